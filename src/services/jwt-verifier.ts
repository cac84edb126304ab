import { createRemoteJWKSet, jwtVerify, type JWTHeaderParameters, type JWTVerifyGetKey } from 'jose';
import type { JwtConfig } from '../config/config.js';

/**
 * Verifies bearer JWTs with jose: HS256 against the shared secret, RS256/ES256 against the keys
 * of a JWKS URL (refetched when a token names a key id it has not seen, so a key rotation at
 * the issuer needs no restart). Expiry is required and checked; audience and issuer when set.
 */
export class JwtVerifier {
  private readonly secret: Uint8Array | null;
  private readonly jwks: JWTVerifyGetKey | null;
  private readonly algorithms: string[];

  constructor(private readonly cfg: JwtConfig) {
    this.secret = cfg.secret ? new TextEncoder().encode(cfg.secret) : null;
    this.jwks = cfg.jwksUrl
      ? createRemoteJWKSet(new URL(cfg.jwksUrl), { cacheMaxAge: cfg.jwksCacheMs, cooldownDuration: cfg.jwksCooldownMs, timeoutDuration: 5_000 })
      : null;
    this.algorithms = [...(this.secret ? ['HS256'] : []), ...(this.jwks ? ['RS256', 'ES256'] : [])];
  }

  static configured(cfg: JwtConfig): boolean {
    return cfg.secret !== null || cfg.jwksUrl !== null;
  }

  /** The tenant the token names; throws (with jose's reason) when it is not acceptable. */
  async tenantOf(token: string): Promise<string> {
    const getKey = async (header: JWTHeaderParameters, token: Parameters<JWTVerifyGetKey>[1]) => {
      if (header.alg === 'HS256') {
        if (!this.secret) throw new Error('HS256 tokens are not accepted');
        return this.secret;
      }
      if (!this.jwks) throw new Error(`${header.alg} tokens are not accepted`);
      return this.jwks(header, token);
    };
    const { payload } = await jwtVerify(token, getKey, {
      algorithms: this.algorithms,
      requiredClaims: ['exp'],
      ...(this.cfg.audience ? { audience: this.cfg.audience } : {}),
      ...(this.cfg.issuer ? { issuer: this.cfg.issuer } : {}),
      clockTolerance: 5,
    });
    // A stolen token must not work for centuries: lifetimes past the maximum are refused.
    const left = (payload.exp ?? 0) - Date.now() / 1000;
    if (left > this.cfg.maxTtlSec) {
      throw new Error(`token lifetime too long: "exp" is ${Math.round(left)} s away, at most ${this.cfg.maxTtlSec} s (RAGD_JWT_MAX_TTL) are accepted`);
    }
    const tenant = payload[this.cfg.tenantClaim];
    if (typeof tenant !== 'string' || tenant === '') throw new Error(`token has no "${this.cfg.tenantClaim}" claim`);
    return tenant;
  }
}

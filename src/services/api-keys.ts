import { createHash, randomBytes } from 'node:crypto';

/**
 * API keys look like `ragd_1f2e3d4c_<43 chars>`: a fixed marker, an 8-hex-digit public prefix
 * that names the key in logs and lists, and 256 random bits. Only the SHA-256 of the whole key
 * is stored: with that much entropy a fast hash is enough (nothing to brute-force), and lookups
 * stay a single indexed read.
 */
export interface MintedKey {
  key: string;
  prefix: string;
  hash: string;
}

const KEY_SHAPE = /^ragd_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$/;

export const hashKey = (key: string) => createHash('sha256').update(key, 'utf8').digest('hex');

export function mintKey(): MintedKey {
  const prefix = `ragd_${randomBytes(4).toString('hex')}`;
  const key = `${prefix}_${randomBytes(32).toString('base64url')}`;
  return { key, prefix, hash: hashKey(key) };
}

export const looksLikeApiKey = (token: string) => KEY_SHAPE.test(token);

/** What a log line may show of any bearer token: the public prefix of a ragd key, else nothing. */
export const keyPrefixOf = (token: string) => (looksLikeApiKey(token) ? token.slice(0, 13) : null);

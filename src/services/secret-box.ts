import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Seals provider API keys at rest with AES-256-GCM under the server key. The stored form is
 * `v1.<iv>.<tag>.<ciphertext>` (base64url); GCM's tag makes a tampered or foreign value fail
 * loudly instead of decrypting to garbage.
 */
export class SecretBox {
  private constructor(private readonly key: Buffer) {}

  /** Any secret string works as RAGD_SECRET_KEY: it is stretched to 256 bits with SHA-256. */
  static fromSecret(secret: string): SecretBox {
    return new SecretBox(createHash('sha256').update(secret, 'utf8').digest());
  }

  /**
   * RAGD_SECRET_KEY when set; otherwise `<dataDir>/secret.key`, created on first use with 32
   * random bytes and mode 0600. Losing that file loses the stored provider keys, not the data.
   */
  static load(secret: string | null, dataDir: string): SecretBox {
    if (secret) return SecretBox.fromSecret(secret);
    mkdirSync(dataDir, { recursive: true });
    const path = join(dataDir, 'secret.key');
    if (!existsSync(path)) {
      // 'wx': two processes starting at once cannot overwrite each other's key.
      try {
        writeFileSync(path, randomBytes(32).toString('base64'), { mode: 0o600, flag: 'wx' });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    chmodSync(path, 0o600);
    return SecretBox.fromSecret(readFileSync(path, 'utf8').trim());
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return ['v1', iv, cipher.getAuthTag(), body].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join('.');
  }

  open(sealed: string): string {
    const [version, iv, tag, body] = sealed.split('.');
    if (version !== 'v1' || iv === undefined || tag === undefined || body === undefined) throw new Error('not a sealed secret');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
  }
}

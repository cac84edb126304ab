import { randomBytes } from 'node:crypto';

/** Unguessable ids (128 random bits): knowing one id must not let anyone guess another. */
export function newId(prefix: 'doc' | 'task' | 'job' | 'key'): string {
  return `${prefix}_${randomBytes(16).toString('base64url')}`;
}

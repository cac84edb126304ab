import { InvalidCursorError } from '../ports/store.js';

/**
 * The opaque cursor both stores hand out for document lists: a row sequence number, base64url.
 * Decoding is strict both ways: Buffer.from decodes garbage leniently (`!!!` → '' → 0), which
 * would silently restart a client at page one; anything encodeCursor did not make is refused.
 */
export const encodeCursor = (seq: number): string => Buffer.from(String(seq)).toString('base64url');

export function decodeCursor(cursor: string): number {
  const text = /^[A-Za-z0-9_-]+$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString() : '';
  const n = /^[0-9]{1,15}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || encodeCursor(n) !== cursor) throw new InvalidCursorError();
  return n;
}

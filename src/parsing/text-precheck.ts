import { closeSync, openSync, readSync } from 'node:fs';
import type { DocType } from '../domain/types.js';
import { TextBudget } from './common.js';

/**
 * Plain text is parsed whole (its paragraphs, then the chunker, need the string), so a text file
 * over the character limit must be refused before it is read whole: read as a string, a 100 MB
 * upload took the process to 1.9 GB before failing the same limit. This counts its UTF-8
 * characters (every byte that is not a continuation byte) 1 MB at a time, in flat memory, and
 * fails as soon as the count passes the limit. Only for plain text, whose characters are its text;
 * markup formats lose characters to their tags, and stay with the size check in stages.ts.
 */
const PIECE = 1024 * 1024;

export function precheckTextSize(type: DocType, path: string, sizeBytes: number, maxTextChars: number): void {
  if (type !== 'text' || sizeBytes <= maxTextChars) return;
  const budget = new TextBudget(maxTextChars);
  const piece = Buffer.allocUnsafe(PIECE);
  const fd = openSync(path, 'r');
  try {
    for (let n = readSync(fd, piece, 0, PIECE, null); n > 0; n = readSync(fd, piece, 0, PIECE, null)) {
      let chars = 0;
      for (let i = 0; i < n; i++) if ((piece[i]! & 0xc0) !== 0x80) chars++;
      budget.spend(chars);
    }
  } finally {
    closeSync(fd);
  }
}

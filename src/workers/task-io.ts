/**
 * What every worker task module shares: atomic file writes, and failures returned as values
 * (stage-result.ts). File access is synchronous on purpose: see ingest-tasks.ts.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { isPermanent } from '../domain/errors.js';
import type { StageResult } from './stage-result.js';

/** Write to a sibling temp file, then rename: readers see the old file or the whole new one. */
export function writeAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${randomBytes(6).toString('hex')}`;
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (err) {
    try {
      rmSync(tmp, { force: true });
    } catch {
      // The original error is the one worth reporting.
    }
    throw err;
  }
}

function failure(err: unknown): StageResult<never> {
  const e = err as { code?: unknown; message?: unknown };
  const message = typeof e?.message === 'string' ? e.message : String(err);
  const permanent = isPermanent(err);
  // Node system errors carry string codes (ENOENT, EACCES…); keep them, they help operators.
  const code = typeof e?.code === 'string' ? e.code : permanent ? 'unprocessable' : 'internal';
  return { ok: false, error: { code, message, permanent } };
}

export async function run<T>(fn: () => Promise<T>): Promise<StageResult<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (err) {
    return failure(err);
  }
}

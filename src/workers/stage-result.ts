import { PermanentError } from '../domain/errors.js';

/**
 * What a pipeline worker task returns. Failures travel as values because an Error thrown across
 * the worker-thread boundary is structured-cloned and loses its custom fields (`permanent`,
 * `code`), which decide whether the stage is retried.
 */
export type StageResult<T> =
  | { ok: true; value: T }
  | { ok: false; error: { code: string; message: string; permanent: boolean } };

/** The task's value, or its failure thrown again as the error the pipeline expects. */
export function unwrap<T>(result: StageResult<T>): T {
  if (result.ok) return result.value;
  if (result.error.permanent) throw new PermanentError(result.error.message, result.error.code);
  throw new Error(result.error.message);
}

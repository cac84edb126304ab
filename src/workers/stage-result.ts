/**
 * What a pipeline worker task returns. Failures travel as values because an Error thrown across
 * the worker-thread boundary is structured-cloned and loses its custom fields (`permanent`,
 * `code`), which decide whether the stage is retried.
 */
export type StageResult<T> =
  | { ok: true; value: T }
  | { ok: false; error: { code: string; message: string; permanent: boolean } };

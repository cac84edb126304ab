/**
 * One error type for everything a client can be told about. The HTTP layer turns it into
 * `{ error: { code, message } }` with `status`; anything else is a 500 and gets logged.
 */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'AppError';
  }
}

export const notFound = (what: string) => new AppError(404, 'not_found', `${what} not found`);
export const badRequest = (message: string, code = 'invalid_request') => new AppError(400, code, message);
/** OpenAI-compatible routes: `model` names a knowledge base, and this one is not the caller's. */
export const unknownModel = (model: string) =>
  new AppError(404, 'model_not_found', `the model "${model}" does not exist: a model is a knowledge base id or name (GET /v1/models lists them)`);
/** OpenAI-compatible routes: a request feature ragd does not offer (n > 1, tools, images). */
export const unsupported = (message: string) => new AppError(400, 'unsupported_parameter', message);
export const conflict = (message: string, code = 'conflict') => new AppError(409, code, message);
/** The store cannot search vectors (PostgreSQL without pgvector); `reason` says why and what to do. */
export const vectorSearchUnavailable = (reason: string) => new AppError(501, 'vector_search_unavailable', `vector search is not available: ${reason}`);

/** A stage failure that retrying cannot fix (a corrupt file, a zip bomb): fail the document at once. */
export class PermanentError extends Error {
  readonly permanent = true;
  constructor(message: string, readonly code = 'unprocessable') {
    super(message);
    this.name = 'PermanentError';
  }
}

export function isPermanent(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { permanent?: unknown }).permanent === true;
}

/** Error codes that mean the disk (or the database on it) is full, from node:fs and SQLite. */
const DISK_FULL = new Set(['ENOSPC', 'EDQUOT', 'SQLITE_FULL']);

/** The disk is full: not the client's fault, and not something retrying soon will fix. */
export function isDiskFull(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; depth < 4 && typeof e === 'object' && e !== null; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && DISK_FULL.has(code)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

export const insufficientStorage = () =>
  new AppError(507, 'insufficient_storage', 'the server is out of disk space; delete documents or try again once an operator has freed space', { 'retry-after': '60' });

/**
 * Cluster mode: the state every node shares (Redis: limits, tickets) did not answer in time. Said
 * at once rather than after a hang, so a load balancer or client can retry elsewhere or later.
 */
export const sharedStateUnavailable = (what: string) =>
  new AppError(503, 'shared_state_unavailable', `the cluster's shared state did not answer (${what}); retry shortly`, { 'retry-after': '1' });

import type { FastifyError, FastifyPluginAsync, FastifyRequest, FastifySchemaValidationError } from 'fastify';
import fp from 'fastify-plugin';
import { AppError, insufficientStorage, isDiskFull } from '../../domain/errors.js';
import { errorMessage } from '../../domain/messages.js';
import { chooseLanguage, type Lang } from '../../text/language.js';
import type { UploadedDocumentView } from '../schemas.js';

/**
 * Every error leaves the server as `{ error: { code, message } }` with the right status.
 * Client mistakes become a clear 4xx; anything unexpected becomes a generic 500 that is logged
 * with its stack but never shown to the client (stack traces and driver messages leak internals).
 */

export interface ErrorDescription {
  statusCode: number;
  code: string;
  message: string;
  headers: Record<string, string>;
  /** True for a bug or an unexpected dependency failure: log it loudly, say nothing specific. */
  internal: boolean;
}

/**
 * A multipart upload that failed after some files were already accepted. Those documents exist
 * and are being processed; the error body lists them in `error.accepted` so that the client can
 * tell exactly which files made it and retry only the rest.
 */
export class PartialUploadError extends Error {
  constructor(
    readonly failure: unknown,
    readonly accepted: readonly UploadedDocumentView[],
  ) {
    super('upload failed after some files were accepted', { cause: failure });
    this.name = 'PartialUploadError';
  }
}

/** Limits quoted in 413 messages, so a client learns what the boundary is. */
export interface ErrorLimits {
  maxJsonBytes: number;
  maxUploadBytes: number;
  maxFilesPerRequest: number;
}

const MAX_MESSAGE = 500;

function clip(s: string): string {
  return s.length > MAX_MESSAGE ? `${s.slice(0, MAX_MESSAGE - 1)}…` : s;
}

const CONTEXT_NAMES: Record<string, string> = { body: 'body', querystring: 'query', params: 'path', headers: 'header' };

/** `body` + `/metadata/a~1b` → `body.metadata.a/b` */
function location(context: string | undefined, instancePath: string): string {
  const root = CONTEXT_NAMES[context ?? ''] ?? context ?? 'request';
  if (!instancePath) return root;
  const segments = instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  return [root, ...segments].join('.');
}

/** Ajv's first error, phrased so that it names the offending field. */
export function formatValidationError(
  context: string | undefined,
  errors: readonly FastifySchemaValidationError[],
): string {
  const e = errors[0];
  if (!e) return 'invalid request';
  const where = location(context, e.instancePath);
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties':
      return clip(`${where} has an unknown field "${String(params.additionalProperty)}"`);
    case 'required':
      return clip(`${where}.${String(params.missingProperty)} is required`);
    case 'enum': {
      const allowed = Array.isArray(params.allowedValues) ? params.allowedValues.join(', ') : '';
      return clip(`${where} must be one of: ${allowed}`);
    }
    default:
      return clip(`${where} ${e.message ?? 'is invalid'}`);
  }
}

function app(statusCode: number, code: string, message: string): ErrorDescription {
  return { statusCode, code, message, headers: {}, internal: false };
}

const mib = (n: number) => (n >= 1024 * 1024 ? `${Math.floor(n / (1024 * 1024))} MiB` : `${n} bytes`);

/** Maps any thrown value to what the client is told. Pure: no logging, no I/O. */
export function describeError(err: unknown, limits?: ErrorLimits): ErrorDescription {
  if (err instanceof AppError) {
    return { statusCode: err.status, code: err.code, message: err.message, headers: { ...err.headers }, internal: false };
  }
  if (typeof err !== 'object' || err === null) {
    return { statusCode: 500, code: 'internal', message: 'internal server error', headers: {}, internal: true };
  }
  if (isDiskFull(err)) {
    const full = insufficientStorage();
    return { statusCode: full.status, code: full.code, message: full.message, headers: { ...full.headers }, internal: false };
  }
  const e = err as Partial<FastifyError> & { validationContext?: string };

  if (Array.isArray(e.validation)) {
    return app(400, 'invalid_request', formatValidationError(e.validationContext, e.validation));
  }

  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return app(413, 'too_large', `request body is too large${limits ? ` (limit ${mib(limits.maxJsonBytes)})` : ''}`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return app(415, 'unsupported_media_type', 'unsupported content type: send application/json or multipart/form-data');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return app(400, 'invalid_json', 'request body is empty');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_INVALID_JSON_FIELD_ERROR':
      return app(400, 'invalid_json', clip(e.message ?? 'invalid JSON'));
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return app(400, 'invalid_request', 'Content-Length does not match the body');
    // @fastify/multipart limit errors.
    case 'FST_REQ_FILE_TOO_LARGE':
      return app(413, 'too_large', `a file is larger than the upload limit${limits ? ` of ${mib(limits.maxUploadBytes)}` : ''}`);
    case 'FST_FILES_LIMIT':
      return app(413, 'too_large', `too many files in one request${limits ? ` (limit ${limits.maxFilesPerRequest})` : ''}`);
    case 'FST_PARTS_LIMIT':
      return app(413, 'too_large', 'too many parts in the multipart body');
    case 'FST_FIELDS_LIMIT':
      return app(413, 'too_large', 'too many form fields in the multipart body');
    case 'FST_PROTO_VIOLATION':
      return app(400, 'invalid_request', 'forbidden form field name');
    default:
      break;
  }

  // Any other 4xx raised by Fastify or one of its plugins (codes FST_*) carries a message written
  // for clients. 4xx-looking errors from elsewhere (an SDK's 429, a driver's 404) are our failures,
  // not the client's, so they fall through to 500.
  const status = e.statusCode;
  if (typeof e.code === 'string' && e.code.startsWith('FST_') && typeof status === 'number' && status >= 400 && status < 500) {
    const code = status === 404 ? 'not_found' : status === 413 ? 'too_large' : status === 415 ? 'unsupported_media_type' : 'invalid_request';
    return app(status, code, clip(e.message ?? 'bad request'));
  }
  // JSON.parse errors that reach here came from a body parser (ours maps them itself; this is the
  // safety net for any parser registered later).
  if (err instanceof SyntaxError && status === 400) {
    return app(400, 'invalid_json', clip(err.message));
  }
  return { statusCode: 500, code: 'internal', message: 'internal server error', headers: {}, internal: true };
}

/**
 * The language of a request's error messages: its Accept-Language, else the language of the
 * question in its body (a Chinese question gets Chinese errors), else English.
 */
export function requestLanguage(request: FastifyRequest): Lang {
  const body = request.body as { query?: unknown } | undefined;
  const question = typeof body?.query === 'string' ? body.query : undefined;
  const header = request.headers['accept-language'];
  return chooseLanguage(Array.isArray(header) ? header.join(',') : header, question);
}

export interface ErrorsPluginOptions {
  limits?: ErrorLimits;
}

/**
 * Installs the error and not-found handlers on the instance it is registered on. Wrapped with
 * fastify-plugin so that they apply to every route plugin registered after it (children inherit
 * the handlers unless they set their own).
 */
export const errorsPlugin: FastifyPluginAsync<ErrorsPluginOptions> = fp(
  async (app, opts: ErrorsPluginOptions) => {
    app.setErrorHandler((err: unknown, request, reply) => {
      const partial = err instanceof PartialUploadError ? err : null;
      const failure = partial ? partial.failure : err;
      const d = describeError(failure, opts.limits);

      if (d.internal) {
        request.log.error({ err: failure }, 'request failed');
      } else if (d.statusCode >= 500) {
        request.log.warn({ code: d.code, statusCode: d.statusCode }, d.message);
      } else {
        request.log.info({ code: d.code, statusCode: d.statusCode }, d.message);
      }
      if (partial) request.log.warn({ accepted: partial.accepted.length }, 'upload failed part-way; earlier files were accepted');

      const error: { code: string; message: string; accepted?: readonly UploadedDocumentView[] } = {
        code: d.code,
        message: errorMessage(d.code, d.message, requestLanguage(request)),
      };
      // Only the public fields: error bodies have no response schema to filter them.
      if (partial) {
        error.accepted = partial.accepted.map(({ id, name, status, task_id, duplicate }) => ({ id, name, status, task_id, duplicate }));
      }
      return reply.code(d.statusCode).headers(d.headers).send({ error });
    });

    app.setNotFoundHandler((request, reply) => {
      // Only the path: the query string may carry things that do not belong in a response or log.
      const path = request.url.split('?', 1)[0] ?? '';
      const shown = path.length > 200 ? `${path.slice(0, 200)}…` : path;
      const message = errorMessage('not_found', `no route for ${request.method} ${shown}`, requestLanguage(request));
      return reply.code(404).send({ error: { code: 'not_found', message } });
    });
  },
  { name: 'ragd-errors', fastify: '5.x' },
);

import type { FastifyError, FastifyInstance } from 'fastify';
import { describeError, type ErrorDescription } from '../../plugins/errors.js';

/**
 * OpenAI clients read errors as `{error:{message,type,code,param}}`; ragd's own shape would reach
 * their users as "unknown error". Same descriptions (catalogue codes, statuses, Retry-After) as
 * every other route, in OpenAI's envelope.
 */

function typeOf(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

export function openAiError(d: Pick<ErrorDescription, 'statusCode' | 'code' | 'message'>) {
  return { error: { message: d.message, type: typeOf(d.statusCode), code: d.code, param: null } };
}

/** Installs the OpenAI error shape on this (encapsulated) context only. */
export function useOpenAiErrors(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const d = describeError(err);
    if (d.internal) request.log.error({ err }, 'request failed');
    else request.log.info({ code: d.code, statusCode: d.statusCode }, d.message);
    return reply.code(d.statusCode).headers(d.headers).send(openAiError(d));
  });
}

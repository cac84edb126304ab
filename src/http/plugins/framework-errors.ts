import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { describeError } from './errors.js';

/**
 * The two places where Fastify answers before any route or error handler runs, made to answer in
 * the API's `{error:{code,message}}` shape like everything else.
 */

/**
 * Router-level refusals (a malformed percent-encoding, a path parameter longer than the router
 * allows): Fastify hands them here instead of its own body shape. Fastify constructor option.
 */
export function frameworkErrors(err: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const d = describeError(err);
  // Only the kind of problem: the offending path may be huge and says nothing the client lacks.
  const message =
    err.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? 'a path segment is too long'
      : err.code === 'FST_ERR_BAD_URL'
        ? 'the URL is not valid (malformed percent-encoding?)'
        : d.message;
  void reply.code(d.statusCode).send({ error: { code: d.code, message } });
}

const CLIENT_ERRORS: Record<string, { status: number; code: string; message: string }> = {
  HPE_HEADER_OVERFLOW: { status: 431, code: 'headers_too_large', message: 'the request headers are too large' },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, code: 'request_timeout', message: 'the request was not received in time' },
};

/**
 * Requests Node's HTTP parser rejects (oversized headers, garbage on the wire) never become a
 * Fastify request; this writes the answer straight to the socket. Fastify constructor option.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const known = CLIENT_ERRORS[err.code ?? ''] ?? { status: 400, code: 'invalid_request', message: 'the request could not be parsed as HTTP' };
  const body = JSON.stringify({ error: { code: known.code, message: known.message } });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${known.status} ${STATUS_CODES[known.status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}

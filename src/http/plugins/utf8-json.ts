import { isUtf8 } from 'node:buffer';
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import sjson from 'secure-json-parse';
import { AppError } from '../../domain/errors.js';

/**
 * JSON bodies must be UTF-8 (RFC 8259 §8.1). Fastify's own parser decodes with replacement
 * characters, so invalid bytes would silently become U+FFFD inside stored text. This parser
 * takes the raw bytes (Fastify still enforces `bodyLimit` while collecting them), refuses
 * anything that is not valid UTF-8, and parses with secure-json-parse so that `__proto__` and
 * `constructor.prototype` keys are refused rather than turned into prototype pollution.
 */

const BOM = 0xfeff;

/** Parses a JSON request body; throws AppError 400 `invalid_utf8` / `invalid_json`. */
export function parseJsonBody(body: Buffer): unknown {
  if (!isUtf8(body)) {
    throw new AppError(400, 'invalid_utf8', 'request body is not valid UTF-8');
  }
  let text = body.toString('utf8');
  // A UTF-8 byte order mark is legal to ignore (RFC 8259 §8.1) and some Windows tools send one.
  if (text.charCodeAt(0) === BOM) text = text.slice(1);
  // An empty body means "no body": a DELETE sent with a JSON content type is common client
  // behaviour. Routes that need a body reject `undefined` through their schema.
  if (text.trim() === '') return undefined;
  try {
    return sjson.parse(text, null, { protoAction: 'error', constructorAction: 'error' });
  } catch (err) {
    const detail = err instanceof Error ? err.message : 'malformed JSON';
    throw new AppError(400, 'invalid_json', `request body is not valid JSON: ${detail.slice(0, 200)}`);
  }
}

/** Replaces the `application/json` parser of the instance it is registered on (and its children). */
export const utf8JsonPlugin: FastifyPluginAsync = fp(
  async (app) => {
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
      try {
        done(null, parseJsonBody(body as Buffer));
      } catch (err) {
        done(err as Error, undefined);
      }
    });
  },
  { name: 'ragd-utf8-json', fastify: '5.x' },
);

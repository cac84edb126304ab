import fp from 'fastify-plugin';
import { AppError } from '../../domain/errors.js';

/**
 * Once shutdown has begun, a request that still reaches the server (pipelined, or sent on a
 * keep-alive connection that was busy when the listener closed) is refused with
 * `503 shutting_down` in the usual error shape, with Retry-After, instead of starting work the
 * process is about to abandon. Fastify adds `Connection: close`, so the client reconnects elsewhere.
 * (Fastify's own return503OnClosing does the same with a body of another shape; it is turned off.)
 */
export const drainingPlugin = fp(
  async (app) => {
    let draining = false;
    app.addHook('preClose', (done) => {
      draining = true;
      done();
    });
    // A callback hook, not an async one: it runs on every request, and a promise each is a cost.
    app.addHook('onRequest', (_request, _reply, done) => {
      done(draining ? new AppError(503, 'shutting_down', 'the server is shutting down; retry shortly', { 'retry-after': '1' }) : undefined);
    });
  },
  { name: 'ragd-draining', fastify: '5.x' },
);

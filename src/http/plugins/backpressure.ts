import type { FastifyReply } from 'fastify';
import fp from 'fastify-plugin';
import type { AdmissionGate, BacklogGuard } from '../../services/admission.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Which admission bound a route is under: `query` takes a slot of the query gate for the
     * whole response (a streamed answer included); `upload` is refused while the pipeline
     * backlog is full.
     */
    admission?: 'query' | 'upload';
  }
}

export interface BackpressureOptions {
  queries: AdmissionGate;
  uploads: BacklogGuard;
}

/**
 * Applies the admission bounds in `onRequest`, before the body is read: a refused request costs
 * a few microseconds and no upload bytes go to disk. A query's slot is released when its response
 * closes for any reason (sent, streamed to the end, or the client gone), so no path leaks one.
 */
export const backpressurePlugin = fp<BackpressureOptions>(
  async (app, opts) => {
    // Most routes have no bound: they pass synchronously, without a promise per request.
    app.addHook('onRequest', (request, reply, done) => {
      const kind = request.routeOptions.config.admission;
      if (kind === undefined) return done();
      admit(kind, reply).then(() => done(), done);
    });

    async function admit(kind: 'query' | 'upload', reply: FastifyReply): Promise<void> {
      if (kind === 'query') {
        const res = reply.raw;
        let gone: AbortController | null = null;
        const onClose = () => gone?.abort();
        if (opts.queries.full) {
          // It will wait: stop waiting if the client leaves.
          gone = new AbortController();
          res.once('close', onClose);
        }
        const release = await opts.queries.acquire(gone?.signal);
        res.off('close', onClose);
        if (res.destroyed) release();
        else res.once('close', release);
      } else if (kind === 'upload') {
        try {
          await opts.uploads.check();
        } catch (err) {
          // The refused body is never read: closing the connection spares the client sending the rest.
          reply.header('connection', 'close');
          throw err;
        }
      }
    }
  },
  { name: 'ragd-backpressure', fastify: '5.x' },
);

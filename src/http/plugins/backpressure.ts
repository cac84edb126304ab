import type { ServerResponse } from 'node:http';
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
    // Most routes have no bound, and a query usually finds a free slot: both pass synchronously,
    // without a promise (or a closure) per request.
    app.addHook('onRequest', (request, reply, done) => {
      const kind = request.routeOptions.config.admission;
      if (kind === undefined) return done();
      if (kind === 'query') {
        const release = opts.queries.tryAcquire();
        if (release) {
          releaseOnClose(reply.raw, release);
          return done();
        }
        waitForQuerySlot(reply.raw).then(() => done(), done);
      } else {
        checkUploadBacklog(reply).then(() => done(), done);
      }
    });

    /** The slot is held for the whole response: sent, streamed to the end, or the client gone. */
    function releaseOnClose(res: ServerResponse, release: () => void): void {
      if (res.destroyed) release();
      else res.once('close', release);
    }

    async function waitForQuerySlot(res: ServerResponse): Promise<void> {
      // Stop waiting if the client leaves.
      const gone = new AbortController();
      const onClose = () => gone.abort();
      res.once('close', onClose);
      try {
        releaseOnClose(res, await opts.queries.acquire(gone.signal));
      } finally {
        res.off('close', onClose);
      }
    }

    async function checkUploadBacklog(reply: FastifyReply): Promise<void> {
      try {
        await opts.uploads.check();
      } catch (err) {
        // The refused body is never read: closing the connection spares the client sending the rest.
        reply.header('connection', 'close');
        throw err;
      }
    }
  },
  { name: 'ragd-backpressure', fastify: '5.x' },
);

import type { Socket } from 'node:net';
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import type { HttpLimitsConfig } from '../../config/config.js';

/** Node's own timers for the request as a whole; passed to the Fastify constructor. */
export function serverTimeouts(cfg: HttpLimitsConfig) {
  return {
    requestTimeout: cfg.requestTimeoutMs,
    keepAliveTimeout: cfg.keepAliveTimeoutMs,
    http: {
      headersTimeout: cfg.headersTimeoutMs,
      // Node checks those two timers on this interval (30 s by default): a tenth of the shorter.
      connectionsCheckingInterval: Math.max(100, Math.floor(Math.min(cfg.headersTimeoutMs, cfg.requestTimeoutMs || Infinity) / 10)),
    },
  };
}

/** At most one "refused" log line per address per this many ms, so a flood does not flood the log. */
const LOG_EVERY_MS = 10_000;

/**
 * Slow or idle clients must not hold connections (and file descriptors) for ever:
 *   - headers must arrive within headersTimeoutMs and the whole request within requestTimeoutMs
 *     (Node's timers, see serverTimeouts; answered 408);
 *   - a request body that stops arriving for bodyIdleTimeoutMs has its connection closed; once
 *     the body is in, the answer may take as long as it needs (a query waiting on the model);
 *   - one address holds at most maxConnectionsPerAddress connections; more are closed at once.
 * Each cut-off is logged at warn.
 */
const plugin: FastifyPluginAsync<HttpLimitsConfig> = async (app, cfg) => {
  const perAddress = new Map<string, number>();
  const lastLogged = new Map<string, number>();

  app.server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? '';
    const count = (perAddress.get(address) ?? 0) + 1;
    if (count > cfg.maxConnectionsPerAddress) {
      const now = Date.now();
      if (now - (lastLogged.get(address) ?? 0) >= LOG_EVERY_MS) {
        lastLogged.set(address, now);
        app.log.warn({ address, limit: cfg.maxConnectionsPerAddress }, 'connection refused: too many open connections from one address');
      }
      socket.destroy();
      return;
    }
    perAddress.set(address, count);
    socket.once('close', () => {
      const left = (perAddress.get(address) ?? 1) - 1;
      if (left <= 0) perAddress.delete(address);
      else perAddress.set(address, left);
    });
  });

  app.server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      app.log.warn({ address: socket.remoteAddress }, 'connection closed: headers or request not received in time');
    }
  });

  app.addHook('onRequest', (request, _reply, done) => {
    const raw = request.raw;
    const hasBody = raw.headers['transfer-encoding'] !== undefined || Number(raw.headers['content-length'] ?? 0) > 0;
    // (An injected request, as in tests, has no socket to time.)
    if (!hasBody || raw.complete || !raw.socket || typeof raw.setTimeout !== 'function') return done();
    const stalled = () => {
      request.log.warn({ address: raw.socket.remoteAddress, idle_ms: cfg.bodyIdleTimeoutMs }, 'connection closed: the request body stopped arriving');
      raw.socket.destroy();
    };
    raw.setTimeout(cfg.bodyIdleTimeoutMs, stalled);
    const received = () => {
      raw.off('timeout', stalled);
      raw.socket?.setTimeout(0);
    };
    raw.once('end', received);
    raw.once('close', received);
    done();
  });
};

export const slowClientsPlugin = fp(plugin, { name: 'ragd-slow-clients', fastify: '5.x' });

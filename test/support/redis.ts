/**
 * Real Redis for the cluster adapters' tests, on db 0 which other runs share: every run gets its
 * own random key prefix and deletes only its own keys afterwards (never FLUSHDB). A Redis that
 * does not answer FAILS the run: `.ci/run` starts it, and a skipped cluster suite proves nothing.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import type { Redis } from 'ioredis';
import { connectRedis, type RedisConnectionOptions } from '../../src/adapters/cluster/redis/connection.js';

export const REDIS_URL = process.env.RAGD_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';

/** A prefix no other run uses. */
export const testPrefix = (what: string) => `ragd-test:${what}:${randomBytes(6).toString('hex')}`;

export async function testRedis(opts: RedisConnectionOptions = {}, url = REDIS_URL): Promise<Redis> {
  return connectRedis(url, opts);
}

/** Deletes the keys under `prefix` (SCAN, not KEYS: the shared server is not blocked). */
export async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
}

/**
 * A TCP proxy in front of Redis that a test can cut and restore: an outage of "Redis" as one
 * node sees it, without touching the server other runs share. `blackhole()` keeps connections
 * open but never answers, like a paused server.
 */
export class RedisProxy {
  private readonly sockets = new Set<net.Socket>();
  private server: net.Server | null = null;
  private mode: 'pass' | 'blackhole' = 'pass';
  port = 0;

  static async start(): Promise<RedisProxy> {
    const proxy = new RedisProxy();
    await proxy.listen();
    return proxy;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  /** Closes every connection and refuses new ones until `restore()`. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Connections stay open but nothing reaches Redis and nothing comes back. */
  blackhole(): void {
    this.mode = 'blackhole';
  }

  async restore(): Promise<void> {
    this.mode = 'pass';
    if (!this.server) await this.listen();
  }

  private listen(): Promise<void> {
    const target = new URL(REDIS_URL);
    const server = net.createServer((client) => {
      const upstream = net.connect(Number(target.port || 6379), target.hostname);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => {
          this.sockets.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      client.on('data', (d) => this.mode === 'pass' && upstream.write(d));
      upstream.on('data', (d) => this.mode === 'pass' && client.write(d));
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => {
        this.port = (server.address() as net.AddressInfo).port;
        resolve();
      });
    });
  }
}

import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import type { TaskEvent } from '../../../domain/types.js';
import type { EventBus } from '../../../ports/event-bus.js';

export interface RedisEventBusOptions {
  /** A connection made by connectRedis (bounded commands); the bus publishes on it and never closes it. */
  redis: Redis;
  /** Namespace of the channels, e.g. `ragd`; nodes of one deployment share it, tests use a random one. */
  prefix: string;
  /** A publish gives up after this long (default 1 s): the caller is never held by a Redis outage. */
  publishTimeoutMs?: number;
  /** Told about an event that could not be published, and about subscriber connection errors. */
  onError?: (err: unknown, what: string) => void;
}

/**
 * The cluster event bus: Redis pub/sub, so a client on any API node hears the changes made by any
 * worker. Each event is published once, on its tenant's and KB's channel
 * (`<prefix>:ev:<tenant>:<kb>`); every node's subscriber connection holds one pattern
 * subscription over all of them, made before `connect` resolves, and hands each message to this
 * node's local subscribers.
 *
 * Why one pattern rather than a SUBSCRIBE per task: the port's subscribe is synchronous, and
 * TaskService relies on it (subscribe, then read the snapshot, so no change falls between). A
 * per-task SUBSCRIBE only takes effect after a round trip, which would reopen that gap. The price
 * is that every node receives every event, a few messages per document stage.
 *
 * Tenant scoping: a message is delivered only if the tenant and KB it names are those of the
 * channel it came on, and local topics are keyed by tenant, as in MemoryEventBus.
 *
 * Events are notifications, not the record: task state lives in the Store, every stream starts
 * from a snapshot, and SSE's Last-Event-ID resumes from the Store too. So `publish` never throws:
 * an event that cannot be published within `publishTimeoutMs` is reported to `onError` and
 * dropped, rather than failing a pipeline stage that has already been committed.
 */
export class RedisEventBus implements EventBus {
  private readonly local = new EventEmitter();
  private readonly channelPrefix: string;
  private readonly publishTimeoutMs: number;
  private closing: Promise<void> | null = null;

  private constructor(
    private readonly publisher: Redis,
    private readonly subscriber: Redis,
    prefix: string,
    publishTimeoutMs: number,
    private readonly onError: (err: unknown, what: string) => void,
  ) {
    this.local.setMaxListeners(0);
    this.channelPrefix = `${prefix}:ev:`;
    this.publishTimeoutMs = publishTimeoutMs;
  }

  /** A bus whose subscription is live: events published anywhere after this resolves reach it. */
  static async connect(opts: RedisEventBusOptions): Promise<RedisEventBus> {
    const onError = opts.onError ?? (() => undefined);
    // A connection in subscriber mode can run no other command: a dedicated one. It queues its
    // (re)subscription while reconnecting, and ioredis re-subscribes after every reconnect.
    const subscriber = opts.redis.duplicate({ enableOfflineQueue: true, lazyConnect: true, commandTimeout: undefined });
    subscriber.on('error', (err) => onError(err, 'event subscriber connection'));
    const bus = new RedisEventBus(opts.redis, subscriber, opts.prefix, opts.publishTimeoutMs ?? 1_000, onError);
    subscriber.on('pmessage', (_pattern, channel, message) => bus.dispatch(channel, message));
    try {
      await subscriber.connect();
      await subscriber.psubscribe(`${escapeGlob(bus.channelPrefix)}*`);
    } catch (err) {
      subscriber.disconnect();
      throw err;
    }
    // Every later 'ready' is a reconnection, after which ioredis has re-sent the subscription
    // (before the event is emitted). A PING on the same connection is answered after it, so
    // once it returns the subscription is live again and followers may re-read.
    subscriber.on('ready', () => {
      subscriber.ping().then(
        () => bus.local.emit(RESUBSCRIBED),
        (err: unknown) => onError(err, 'event subscriber not confirmed after reconnecting'),
      );
    });
    return bus;
  }

  async publish(event: TaskEvent): Promise<void> {
    if (this.closing) return;
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`publish took longer than ${this.publishTimeoutMs} ms`)), this.publishTimeoutMs);
    });
    try {
      await Promise.race([this.publisher.publish(this.channelOf(event.tenantId, event.kbId), JSON.stringify(event)), gaveUp]);
    } catch (err) {
      this.onError(err, `task event ${event.task.id} not published`);
    } finally {
      clearTimeout(timer);
    }
  }

  subscribeTask(tenantId: string, taskId: string, handler: (e: TaskEvent) => void): () => void {
    return this.on(taskTopic(tenantId, taskId), handler);
  }

  subscribeKb(tenantId: string, kbId: string, handler: (e: TaskEvent) => void): () => void {
    return this.on(kbTopic(tenantId, kbId), handler);
  }

  onResubscribed(handler: () => void): () => void {
    return this.on(RESUBSCRIBED, handler);
  }

  /** Idempotent: drops local subscribers and closes the subscriber connection (not the shared publisher). */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.local.removeAllListeners();
      await this.subscriber.quit().catch(() => this.subscriber.disconnect());
    })();
    return this.closing;
  }

  private on(topic: string, handler: (e: TaskEvent) => void): () => void {
    this.local.on(topic, handler);
    return () => this.local.off(topic, handler);
  }

  private channelOf(tenantId: string, kbId: string): string {
    return `${this.channelPrefix}${encodeURIComponent(tenantId)}:${encodeURIComponent(kbId)}`;
  }

  private dispatch(channel: string, message: string): void {
    let event: TaskEvent;
    try {
      event = JSON.parse(message) as TaskEvent;
    } catch (err) {
      this.onError(err, `unreadable message on ${channel}`);
      return;
    }
    // The channel names the tenant: an event claiming another tenant than its channel's is dropped.
    // A message that is not a task event (another program on the channel) is dropped, never thrown
    // from inside the connection's event handler.
    if (typeof event?.tenantId !== 'string' || typeof event.kbId !== 'string' || typeof event.task?.id !== 'string') return;
    if (channel !== this.channelOf(event.tenantId, event.kbId)) return;
    this.local.emit(taskTopic(event.tenantId, event.task.id), event);
    this.local.emit(kbTopic(event.tenantId, event.kbId), event);
  }
}

/** Local event for onResubscribed; no task topic looks like it (those start with task: or kb:). */
const RESUBSCRIBED = 'resubscribed';
const taskTopic = (tenantId: string, taskId: string) => `task:${tenantId}:${taskId}`;
const kbTopic = (tenantId: string, kbId: string) => `kb:${tenantId}:${kbId}`;

/** A literal for a Redis glob pattern: `*`, `?`, `[`, `]` and `\` lose their meaning. */
function escapeGlob(s: string): string {
  return s.replace(/[*?[\]\\]/g, '\\$&');
}

import type { TaskEvent } from '../domain/types.js';

/**
 * Fan-out of task state changes. Embedded: an in-process emitter. Cluster: Redis pub/sub.
 * Topics are built by the helpers below so that tenant scoping cannot be forgotten.
 */
export interface EventBus {
  publish(event: TaskEvent): Promise<void>;
  /** Every event of one task. */
  subscribeTask(tenantId: string, taskId: string, handler: (e: TaskEvent) => void): () => void;
  /** Every task event of one knowledge base (dashboards). */
  subscribeKb(tenantId: string, kbId: string, handler: (e: TaskEvent) => void): () => void;
  /**
   * A bus that reaches other processes through a broker (Redis) loses what was published while
   * its connection was down. Once it is subscribed again it calls these handlers, so a follower
   * re-reads the state it follows from the Store. The embedded bus never loses an event and has
   * no such member.
   */
  onResubscribed?(handler: () => void): () => void;
  close(): Promise<void>;
}

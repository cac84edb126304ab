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
  close(): Promise<void>;
}

import { EventEmitter } from 'node:events';
import type { TaskEvent } from '../../domain/types.js';
import type { EventBus } from '../../ports/event-bus.js';

/** The embedded event bus: one process, so an EventEmitter is the whole story. */
export class MemoryEventBus implements EventBus {
  private readonly emitter = new EventEmitter();

  constructor() {
    // Every SSE/WebSocket client is a listener; the HTTP layer bounds how many there are.
    this.emitter.setMaxListeners(0);
  }

  async publish(event: TaskEvent): Promise<void> {
    this.emitter.emit(`task:${event.tenantId}:${event.task.id}`, event);
    this.emitter.emit(`kb:${event.tenantId}:${event.kbId}`, event);
  }

  subscribeTask(tenantId: string, taskId: string, handler: (e: TaskEvent) => void): () => void {
    return this.on(`task:${tenantId}:${taskId}`, handler);
  }

  subscribeKb(tenantId: string, kbId: string, handler: (e: TaskEvent) => void): () => void {
    return this.on(`kb:${tenantId}:${kbId}`, handler);
  }

  private on(topic: string, handler: (e: TaskEvent) => void): () => void {
    this.emitter.on(topic, handler);
    return () => this.emitter.off(topic, handler);
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }
}

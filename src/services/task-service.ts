import { notFound } from '../domain/errors.js';
import type { Scope, TaskView } from '../domain/types.js';
import type { EventBus } from '../ports/event-bus.js';
import type { Store } from '../ports/store.js';
import type { KbService } from './kb-service.js';

/** Task state, and live streams of it that never miss a change. */
export class TaskService {
  constructor(
    private readonly store: Store,
    private readonly bus: EventBus,
    private readonly kbs: KbService,
  ) {}

  async get(tenantId: string, id: string): Promise<TaskView> {
    const task = await this.store.getTask(tenantId, id);
    if (!task) throw notFound(`task "${id}"`);
    return task;
  }

  /**
   * Subscribes before reading the snapshot, so no change can fall between the two; events the
   * snapshot already covers (by version) are dropped, so none is delivered twice or backwards.
   * A bus that may have lost events during a broker outage says when it is back
   * (onResubscribed): the task is read again, so a follower still reaches the final state.
   */
  async follow(tenantId: string, id: string, onEvent: (t: TaskView) => void): Promise<() => void> {
    let lastVersion = -1;
    let buffered: TaskView[] | null = [];
    const deliver = (t: TaskView) => {
      if (t.version <= lastVersion) return;
      lastVersion = t.version;
      onEvent(t);
    };
    const unsubscribe = this.bus.subscribeTask(tenantId, id, (e) => (buffered ? buffered.push(e.task) : deliver(e.task)));
    try {
      const snapshot = await this.get(tenantId, id);
      deliver(snapshot);
      for (const t of buffered) deliver(t);
      buffered = null;
      const stopResync = this.bus.onResubscribed?.(() => {
        this.store.getTask(tenantId, id).then((t) => t && deliver(t), () => undefined);
      });
      return stopResync
        ? () => {
            stopResync();
            unsubscribe();
          }
        : unsubscribe;
    } catch (err) {
      unsubscribe();
      throw err;
    }
  }

  async followKb(scope: Scope, onEvent: (t: TaskView) => void): Promise<() => void> {
    await this.kbs.get(scope);
    return this.bus.subscribeKb(scope.tenantId, scope.kbId, (e) => onEvent(e.task));
  }
}

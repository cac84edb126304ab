import type { Release, SlotCounter } from '../../ports/limits.js';

/**
 * The embedded SlotCounter: one process is the whole server, so a Map of counts is the whole
 * story, and it answers synchronously. A key's count is dropped when it reaches zero, so the map
 * holds only keys with something open.
 */
export class MemorySlotCounter implements SlotCounter {
  private readonly open = new Map<string, number>();

  take(key: string, max: number | null): Release | null {
    const now = this.open.get(key) ?? 0;
    if (max !== null && now >= max) return null;
    this.open.set(key, now + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.open.get(key) ?? 1) - 1;
      if (left > 0) this.open.set(key, left);
      else this.open.delete(key);
    };
  }

  held(key: string): number {
    return this.open.get(key) ?? 0;
  }
}

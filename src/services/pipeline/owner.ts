import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/**
 * A lease owner names its host and process, so a restarted process on the same host can tell
 * that the owner of an old lease is dead and take its jobs over at once instead of waiting
 * for the lease to expire. Owners on other hosts are judged by lease expiry alone.
 */
export function newOwnerId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
}

export function isOwnerAlive(owner: string, self: string): boolean {
  if (owner === self) return true;
  const [host, pidText] = owner.split(':');
  if (host !== hostname()) return true;
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return true;
  if (pid === process.pid) return false; // same pid, other instance id: an earlier life of this process
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Exponential backoff with jitter, capped, for attempt n (1-based). */
export function backoffMs(attempt: number, baseMs: number, maxMs: number): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp / 2 + Math.random() * (exp / 2));
}

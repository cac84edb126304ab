/**
 * Issue 16 item 4: a query whose client left must not leave its search-pool task behind. Queued
 * tasks are cancelled (they never reach a thread); a running one's result is dropped.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { SearchPool } from '../../src/workers/search-pool.js';

describe('search pool and aborted queries', () => {
  const pool = new SearchPool({ dbPath: '/nonexistent/ragd.db', threads: 1 });
  after(() => pool.close());
  const input = { query: 'otters', sources: [{ n: 1, text: 'Sea otters hold hands while they sleep. '.repeat(200) }] };

  it('tasks queued behind a running one are cancelled when their signal fires, and never run', async () => {
    await pool.extractAnswer(input); // warm the thread
    const before = pool.stats().completed;
    const first = pool.extractAnswer(input);
    const abort = new AbortController();
    const orphans = Array.from({ length: 30 }, () => pool.extractAnswer(input, abort.signal));
    abort.abort();
    const settled = await Promise.allSettled(orphans);
    assert.ok(settled.every((r) => r.status === 'rejected'), 'every aborted task rejects');
    await first;
    // Let anything that was wrongly left queued run, then count what the threads did.
    await pool.extractAnswer(input);
    const ran = pool.stats().completed - before;
    assert.ok(ran <= 3, `${ran} tasks ran; the 30 aborted ones must not`);
    assert.equal(pool.stats().queued, 0);
  });

  it('a task whose signal fires while it runs rejects at once, and the thread stays in service', async () => {
    const abort = new AbortController();
    const running = pool.extractAnswer(input, abort.signal);
    abort.abort();
    await assert.rejects(running);
    const out = await pool.extractAnswer(input);
    assert.ok(out);
  });
});

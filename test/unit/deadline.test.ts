import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { deadline } from '../../src/domain/deadline.js';

describe('deadline', () => {
  it('aborts with a TimeoutError once the time runs out, and says so', async () => {
    const d = deadline(20);
    assert.equal(d.signal.aborted, false);
    await sleep(60);
    assert.equal(d.signal.aborted, true);
    assert.equal(d.expired, true);
    assert.equal((d.signal.reason as DOMException).name, 'TimeoutError');
    d.clear();
  });

  it('aborts with the caller’s reason when the caller aborts first (not expired)', () => {
    const caller = new AbortController();
    const d = deadline(10_000, caller.signal);
    caller.abort(new Error('client left'));
    assert.equal(d.signal.aborted, true);
    assert.equal(d.expired, false);
    assert.equal((d.signal.reason as Error).message, 'client left');
    d.clear();
  });

  it('starts aborted when the caller already is', () => {
    const caller = new AbortController();
    caller.abort(new Error('gone'));
    const d = deadline(10_000, caller.signal);
    assert.equal(d.signal.aborted, true);
    d.clear();
  });

  it('once cleared, neither the timer nor the caller aborts it any more', async () => {
    const caller = new AbortController();
    const d = deadline(20, caller.signal);
    d.clear();
    await sleep(60);
    caller.abort(new Error('late'));
    assert.equal(d.signal.aborted, false);
    assert.equal(d.expired, false);
  });
});

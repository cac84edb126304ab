/**
 * Idle pipeline slots poll the queue (for due retries and expired leases) and can also be woken
 * at once. A slot that wakes by its poll timer must not leave its wake-up call behind: on a
 * server with nothing to ingest, each slot would otherwise keep one more closure every second
 * until the next upload.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import type { PipelineStage } from '../../src/domain/types.js';
import type { JobQueue } from '../../src/ports/job-queue.js';
import { PipelineService } from '../../src/services/pipeline/pipeline-service.js';

/** A pipeline with only parse and chunk slots over `queue`; nothing else is ever reached. */
function pipelineOver(queue: JobQueue, slots: { parse: number; chunk: number }, pollMs: number): PipelineService {
  const unused = {} as never;
  return new PipelineService(
    { queue, bus: unused, logger: pino({ level: 'silent' }), store: unused, blobs: unused, pool: unused, embedders: unused, parseLimits: unused, chunking: unused, ocr: unused },
    { concurrency: { ...slots, ocr: 0, embed: 0, index: 0 }, leaseMs: 60_000, backoffBaseMs: 10, backoffMaxMs: 10, pollMs },
  );
}

describe('PipelineService idle slots', () => {
  it('keep one wake-up call each, however long they poll an empty queue', async (t) => {
    let leases = 0;
    let wake: () => void = () => {};
    const queue = {
      reclaimDead: async () => 0,
      onRunnable: (listener: () => void) => ((wake = listener), () => {}),
      lease: async () => (leases++, null),
      release: async () => 0,
    } as unknown as JobQueue;
    const pipeline = pipelineOver(queue, { parse: 2, chunk: 1 }, 5);
    await pipeline.start();
    // Stopped even when an assertion fails: running slots would keep the test process alive.
    t.after(() => pipeline.stop(1000));
    // Dozens of polls per slot, by timer.
    while (leases < 60) await new Promise((r) => setTimeout(r, 5));
    assert.ok(pipeline.idleSlots <= 3, `3 slots, ${pipeline.idleSlots} wake-up calls kept`);
    // Woken on purpose, each slot leases again at once, and still keeps one call at most.
    const before = leases;
    wake();
    while (leases < before + 3) await new Promise((r) => setImmediate(r));
    assert.ok(pipeline.idleSlots <= 3, `after a wake-up: ${pipeline.idleSlots} wake-up calls kept`);
    await pipeline.stop(1000);
    assert.equal(pipeline.idleSlots, 0);
  });

  it('one runnable job wakes one idle slot of its stage; an unknown number wakes them all', async (t) => {
    const leases: string[] = [];
    let wake: (stage: PipelineStage | null) => void = () => {};
    const queue = {
      reclaimDead: async () => 0,
      onRunnable: (listener: typeof wake) => ((wake = listener), () => {}),
      lease: async (stages: PipelineStage[]) => (leases.push(stages.join()), null),
      release: async () => 0,
    } as unknown as JobQueue;
    // A poll far beyond the test: every lease after the first round is a wake-up's.
    const pipeline = pipelineOver(queue, { parse: 3, chunk: 3 }, 60_000);
    await pipeline.start();
    t.after(() => pipeline.stop(1000));
    const settle = async () => {
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    };
    while (pipeline.idleSlots < 6) await new Promise((r) => setImmediate(r));
    leases.length = 0;

    wake('chunk');
    await settle();
    assert.deepEqual(leases, ['chunk'], 'one chunk slot leased, no parse slot');
    assert.equal(pipeline.idleSlots, 6, 'and went back to waiting');

    wake('parse');
    wake('parse');
    await settle();
    assert.deepEqual(leases, ['chunk', 'parse', 'parse']);

    leases.length = 0;
    wake(null);
    await settle();
    assert.deepEqual(leases.sort(), ['chunk', 'chunk', 'chunk', 'parse', 'parse', 'parse']);
  });
});

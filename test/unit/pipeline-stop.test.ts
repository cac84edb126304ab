/**
 * PipelineService.stop() racing a lease: a job whose lease was already on its way when stop()
 * began must not be started (nothing would abort it: the stage could outlive the deadline); it is
 * handed back with the owner's other leases.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import type { JobQueue, LeasedJob } from '../../src/ports/job-queue.js';
import { PipelineService } from '../../src/services/pipeline/pipeline-service.js';

describe('PipelineService.stop', () => {
  it('does not start a job leased after stop() began, and releases it', async () => {
    const calls: string[] = [];
    let deliver!: (job: LeasedJob | null) => void;
    const job: LeasedJob = {
      id: 'job-1',
      scope: { tenantId: 't', kbId: 'kb' },
      documentId: 'doc-1',
      taskId: 'task-1',
      stage: 'parse',
      attempts: 1,
      maxAttempts: 5,
      leaseToken: 'token',
      leaseExpiresAt: Date.now() + 60_000,
      lastError: null,
    };
    const queue = {
      reclaimDead: async () => 0,
      onRunnable: () => () => {},
      lease: () => {
        calls.push('lease');
        return new Promise<LeasedJob | null>((resolve) => (deliver = resolve));
      },
      heartbeat: async () => (calls.push('heartbeat'), true),
      complete: async () => (calls.push('complete'), true),
      fail: async () => (calls.push('fail'), true),
      release: async () => (calls.push('release'), 1),
    } as unknown as JobQueue;
    // Any use of the stage dependencies means the job was started.
    const started = () => {
      calls.push('started');
      throw new Error('the job must not run');
    };
    const pipeline = new PipelineService(
      {
        queue,
        bus: { publish: async () => {} } as never,
        logger: pino({ level: 'silent' }),
        store: { transition: started, getDocument: started } as never,
        blobs: {} as never,
        pool: {} as never,
        embedders: {} as never,
        parseLimits: {} as never,
        chunking: {} as never,
        ocr: {} as never,
      },
      { concurrency: { parse: 1, ocr: 0, chunk: 0, embed: 0, index: 0 }, leaseMs: 60_000, backoffBaseMs: 10, backoffMaxMs: 10 },
    );
    await pipeline.start();
    while (!calls.includes('lease')) await new Promise((r) => setImmediate(r));
    const stopping = pipeline.stop(60_000);
    deliver(job);
    await stopping;
    assert.deepEqual(calls, ['lease', 'release']);
  });
});

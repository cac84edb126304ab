/**
 * What the SSE and WebSocket routes see in a cluster: TaskService on "node B" following a task
 * that "node A" moves on, the two joined only by the shared Store and RedisEventBus. The Store is
 * the real embedded one (the state the follower reads first); the bus is the cluster one.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { RedisEventBus } from '../../src/adapters/cluster/redis/redis-event-bus.js';
import { FsBlobStore } from '../../src/adapters/embedded/fs-blob-store.js';
import type { TaskView } from '../../src/domain/types.js';
import { KbService } from '../../src/services/kb-service.js';
import { TaskService } from '../../src/services/task-service.js';
import { RedisProxy, testPrefix, testRedis } from '../support/redis.js';
import { type TempStore, tempSqliteStore } from '../support/sqlite.js';

const scope = { tenantId: 'default', kbId: 'default' };

describe('task events across two API nodes through Redis', () => {
  const prefix = testPrefix('task-events');
  let temp: TempStore;
  let proxy: RedisProxy;
  let conns: Redis[];
  let busA: RedisEventBus;
  let busB: RedisEventBus;
  let nodeB: TaskService;

  before(async () => {
    temp = await tempSqliteStore('ragd-task-events-');
    proxy = await RedisProxy.start();
    conns = [await testRedis(), await testRedis({ commandTimeoutMs: 300 }, proxy.url)];
    busA = await RedisEventBus.connect({ redis: conns[0]!, prefix });
    busB = await RedisEventBus.connect({ redis: conns[1]!, prefix });
    const kbs = new KbService(temp.store, new FsBlobStore(temp.dir), async () => ({ id: 'hash:8', dim: 8 }));
    nodeB = new TaskService(temp.store, busB, kbs);
  });
  after(async () => {
    await Promise.all([busA.close(), busB.close()]);
    conns[1]!.disconnect();
    await conns[0]!.quit();
    await proxy.cut();
    await temp.remove();
  });

  /** Node A's side of a stage: the Store first, then the event. */
  async function advance(id: string, patch: Partial<Pick<TaskView, 'status' | 'stage' | 'progress'>>): Promise<void> {
    const task = await temp.store.updateTask(scope.tenantId, id, patch);
    await busA.publish({ ...scope, task: task! });
  }

  function follower(): { seen: TaskView[]; until: (status: string) => Promise<void> } {
    const seen: TaskView[] = [];
    return {
      seen,
      until: async (status) => {
        const deadline = Date.now() + 10_000;
        while (seen.at(-1)?.status !== status && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        assert.equal(seen.at(-1)?.status, status);
      },
    };
  }

  it('node B sends the current state first, then every change made on node A, up to the final one', async () => {
    const id = randomUUID();
    await temp.store.createTask({ id, ...scope, kind: 'ingest' });
    await temp.store.updateTask(scope.tenantId, id, { status: 'running', stage: 'parse' });
    const f = follower();
    const stop = await nodeB.follow(scope.tenantId, id, (t) => f.seen.push(t));
    assert.equal(f.seen[0]?.stage, 'parse', 'the current state comes first, from the Store');
    for (const stage of ['chunk', 'embed', 'index'] as const) await advance(id, { stage });
    await advance(id, { status: 'succeeded', stage: null });
    await f.until('succeeded');
    stop();
    assert.deepEqual(f.seen.map((t) => t.stage), ['parse', 'chunk', 'embed', 'index', null]);
    const versions = f.seen.map((t) => t.version);
    assert.deepEqual(versions, [...versions].sort((x, y) => x - y), 'never backwards');
  });

  it('a follower on a node whose Redis connection dropped still reaches the final state, read again once it is back', async () => {
    const id = randomUUID();
    await temp.store.createTask({ id, ...scope, kind: 'ingest' });
    const f = follower();
    const stop = await nodeB.follow(scope.tenantId, id, (t) => f.seen.push(t));
    await proxy.cut();
    // Published while node B cannot hear it: lost for node B's subscriber.
    await advance(id, { status: 'running', stage: 'embed' });
    await advance(id, { status: 'succeeded', stage: null });
    await proxy.restore();
    await f.until('succeeded');
    stop();
  });
});

/**
 * Issue 16 item 9: a full disk. ENOSPC (or SQLITE_FULL) is 507 insufficient_storage, never a
 * 400 that blames the client or a 500; with free space below RAGD_MIN_FREE_DISK_BYTES /readyz
 * and the metrics say so, the pipeline pauses (documents wait instead of failing), and deletes
 * still work so space can be freed through the API.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { describeError } from '../../src/http/plugins/errors.js';
import { DiskMonitor } from '../../src/services/disk-monitor.js';
import { call, sleep, startTestServer, uploadText, type TestServer } from '../support/server.js';

describe('disk full errors', () => {
  test('ENOSPC and SQLITE_FULL are 507 insufficient_storage', () => {
    for (const err of [
      Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }),
      Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }),
      new Error('index failed', { cause: Object.assign(new Error('x'), { code: 'ENOSPC' }) }),
    ]) {
      const d = describeError(err);
      assert.equal(d.statusCode, 507, err.message);
      assert.equal(d.code, 'insufficient_storage');
      assert.equal(d.internal, false);
    }
  });

  test('the monitor reads free space from statfs and calls it low below the minimum', () => {
    let avail = 1000;
    const m = new DiskMonitor('/data', 4096 * 500, () => ({ bavail: avail, bsize: 4096 }), 60_000);
    assert.equal(m.low, false);
    avail = 10;
    m.refresh();
    assert.equal(m.freeBytes, 40_960);
    assert.equal(m.low, true);
    m.close();
  });
});

describe('low disk space', { timeout: 60_000 }, () => {
  let srv: TestServer;
  before(async () => {
    // More free space than any disk has: the server sees itself as full from the start.
    srv = await startTestServer({ RAGD_MIN_FREE_DISK_BYTES: String(Number.MAX_SAFE_INTEGER) });
  });
  after(async () => {
    await srv?.close();
  });

  test('/readyz fails on disk, the metrics say so, documents wait rather than fail, deletes work', async () => {
    const ready = await call(`${srv.url}/readyz`);
    assert.equal(ready.status, 503);
    assert.equal(ready.body.checks.disk, 'failed');
    const metrics = await (await fetch(`${srv.url}/metrics`)).text();
    assert.match(metrics, /^ragd_disk_low 1$/m);
    assert.match(metrics, /^ragd_disk_free_bytes \d+/m);

    const doc = await uploadText(srv.url, 'default', 'wait.txt', 'This document waits for disk space. 这份文件等待磁盘空间。');
    await sleep(1500);
    const view = await call(`${srv.url}/v1/kbs/default/documents/${doc.id}`);
    assert.equal(view.body.status, 'queued', 'the pipeline is paused, the document is not failed');
    assert.equal((await call(`${srv.url}/v1/kbs/default/documents/${doc.id}`, { method: 'DELETE' })).status, 204);
  });
});

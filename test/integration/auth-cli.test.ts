import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runRagd, spawnServer, type SpawnedServer, tempDir, waitFor } from '../support/server.js';
import { authed } from './auth-support.js';

/*
 * The admin CLI end to end: `ragd admin init` on a fresh data dir, a server started on it (which
 * then requires credentials), tenants and keys made with `ragd admin`, and `ragd ingest` /
 * `ragd query` using the tenant key.
 */

const ragd = (args: string[], env: Record<string, string> = {}) => runRagd(args, { RAGD_LOG_LEVEL: 'warn', RAGD_WORKERS: '1', ...env });

describe('ragd admin', () => {
  let dataDir: string;
  let adminKey: string;
  let server: SpawnedServer;

  before(async () => {
    dataDir = await tempDir();
    const init = await ragd(['admin', 'init', '--data-dir', dataDir]);
    assert.equal(init.code, 0, init.stderr);
    adminKey = init.stdout.trim();
    assert.match(adminKey, /^ragd_[0-9a-f]{8}_/);
    server = await spawnServer({ RAGD_DATA_DIR: dataDir });
  });
  after(async () => {
    await server?.stop();
    await server?.cleanup();
  });

  it('init ends open mode: the server now needs credentials', async () => {
    assert.equal((await authed(`${server.url}/v1/kbs`, null)).status, 401);
    assert.equal((await authed(`${server.url}/v1/admin/tenants`, adminKey)).status, 200);
  });

  it('creates a tenant and a key, and the key ingests and queries through the CLI', async () => {
    const env = { RAGD_URL: server.url, RAGD_ADMIN_KEY: adminKey };
    const created = await ragd(['admin', 'tenants', 'create', 'acme', '--name', 'Acme Inc'], env);
    assert.equal(created.code, 0, created.stderr);
    assert.equal(JSON.parse(created.stdout).name, 'Acme Inc');
    const key = await ragd(['admin', 'keys', 'create', 'acme', '--name', 'ci', '--json'], env);
    assert.equal(key.code, 0, key.stderr);
    const { key: apiKey, id: keyId } = JSON.parse(key.stdout) as { key: string; id: string };

    const set = await ragd(['admin', 'settings', 'acme', '--set', '{"limits":{"max_documents":50}}', '--json'], env);
    assert.equal(set.code, 0, set.stderr);
    assert.equal(JSON.parse(set.stdout).limits.max_documents, 50);
    const badSet = await ragd(['admin', 'settings', 'acme', '--set', '{not json'], env);
    assert.equal(badSet.code, 2);

    const file = join(dataDir, 'fact.txt');
    await writeFile(file, 'The acme warehouse opens at seven in the morning.');
    const tenantEnv = { RAGD_URL: server.url, RAGD_API_KEY: apiKey };
    const ingest = await ragd(['ingest', file], tenantEnv);
    assert.equal(ingest.code, 0, ingest.stderr + ingest.stdout);
    const q = await ragd(['query', 'when does the warehouse open?', '--only-context', '--json'], tenantEnv);
    assert.equal(q.code, 0, q.stderr);
    assert.ok(q.stdout.includes('seven in the morning'));

    // Without the key the same query is refused, and a revoked key too.
    const anon = await ragd(['query', 'when does the warehouse open?'], { RAGD_URL: server.url });
    assert.notEqual(anon.code, 0);
    const listed = await ragd(['admin', 'keys', 'acme', '--json'], env);
    assert.ok(listed.stdout.includes(apiKey.slice(0, 13)) && !listed.stdout.includes(apiKey));
    assert.equal((await ragd(['admin', 'keys', 'revoke', 'acme', keyId], env)).code, 0);
    assert.notEqual((await ragd(['query', 'when does the warehouse open?'], tenantEnv)).code, 0);
  });

  it('tells a bad command and a refused admin key apart', async () => {
    const bad = await ragd(['admin', 'tenants', 'frobnicate'], { RAGD_URL: server.url, RAGD_ADMIN_KEY: adminKey });
    assert.equal(bad.code, 2);
    const refused = await ragd(['admin', 'tenants'], { RAGD_URL: server.url, RAGD_ADMIN_KEY: 'wrong' });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /HTTP 401 unauthorized/);
  });
});

describe('ragd admin init against a server already running open', () => {
  let server: SpawnedServer;
  after(async () => {
    await server?.stop();
    await server?.cleanup();
  });

  it('ends open mode without a restart: anonymous requests get 401 and the new admin key works', async () => {
    const dataDir = await tempDir();
    server = await spawnServer({ RAGD_DATA_DIR: dataDir });
    assert.equal((await authed(`${server.url}/v1/kbs`, null)).status, 200, 'open before init');
    assert.equal((await authed(`${server.url}/v1/admin/tenants`, null)).status, 401, 'open mode has no admin');

    const init = await ragd(['admin', 'init', '--data-dir', dataDir]);
    assert.equal(init.code, 0, init.stderr);
    const adminKey = init.stdout.trim();

    await waitFor(async () => (await authed(`${server.url}/v1/kbs`, null)).status === 401, { timeoutMs: 15_000, what: 'open mode to end' });
    assert.equal((await authed(`${server.url}/v1/admin/tenants`, adminKey)).status, 200);
    assert.equal((await authed(`${server.url}/v1/kbs`, 'ragd_00000000_not-a-real-key')).status, 401);
    assert.match(server.output(), /authentication is ON/, 'the server logs that open mode ended');
  });
});

/**
 * EmbedderRegistry: which embedder serves which KB. The server's serves any KB built in its space
 * (under the id earlier versions recorded too); a tenant's own serves only that tenant's KBs of
 * its current configuration; one tenant's provider (and key) never serves another tenant.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { EmbedderRegistry, remoteEmbedder } from '../../src/app/embedder-registry.js';
import { loadConfig } from '../../src/config/config.js';
import type { OpenEmbedProvider } from '../../src/services/tenant-service.js';

const limits = loadConfig({}).embed;
const SERVER_URL = 'http://127.0.0.1:9/v1';

describe('EmbedderRegistry', () => {
  const server = remoteEmbedder({ ...limits, baseUrl: SERVER_URL, model: 'server-model' }, 256);
  const settings = new Map<string, OpenEmbedProvider>([
    ['a', { baseUrl: 'http://127.0.0.1:9/a/', model: 'm', dim: 64, apiKey: 'sk-a' }],
    ['twin', { baseUrl: 'http://127.0.0.1:9/a', model: 'm', dim: 64, apiKey: 'sk-a' }],
  ]);
  const registry = new EmbedderRegistry(server, limits, async (t) => settings.get(t) ?? null);
  after(async () => {
    await registry.close();
    await server.lane.close();
  });

  it('names a remote embedder by endpoint, model and dimension', async () => {
    assert.equal(server.id, `openai:${SERVER_URL}#server-model:256`);
    const own = await registry.forTenant('a');
    assert.equal(own.id, 'openai:http://127.0.0.1:9/a#m:64', 'a trailing slash names the same endpoint');
    assert.equal(own.dim, 64);
    assert.equal(await registry.forTenant('nobody'), server);
  });

  it('serves each KB with the embedder of its space, or none', async () => {
    const ownSpace = { embedder: 'openai:http://127.0.0.1:9/a#m:64', embedDim: 64 };
    assert.equal(await registry.forKb('a', ownSpace), await registry.forTenant('a'));
    assert.equal(await registry.forKb('nobody', ownSpace), null, "another tenant's provider is never used");
    assert.equal(await registry.forKb('a', { embedder: server.id, embedDim: 256 }), server, 'a KB built before the tenant had settings');
    assert.equal(await registry.forKb('a', { embedder: 'openai:server-model', embedDim: 256 }), server, 'the id earlier versions recorded');
    assert.equal(await registry.forKb('a', { embedder: 'openai:server-model', embedDim: 128 }), null, 'same name, other dimension');
    assert.equal(await registry.forKb('a', { embedder: 'openai:m', embedDim: 64 }), null, 'legacy ids name only the server embedder');
    assert.equal(await registry.forKb('a', { embedder: 'hash:512', embedDim: 512 }), null);
  });

  it('shares one embedder (and lane) between tenants with the same configuration', async () => {
    assert.equal(await registry.forTenant('twin'), await registry.forTenant('a'));
    assert.equal(registry.lanes().length, 1);
    settings.set('twin', { ...settings.get('twin')!, apiKey: 'sk-twin' });
    assert.notEqual(await registry.forTenant('twin'), await registry.forTenant('a'), 'another key, another lane');
    assert.equal(registry.lanes().length, 2);
  });
});

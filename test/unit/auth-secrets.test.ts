import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { hashKey, keyPrefixOf, looksLikeApiKey, mintKey } from '../../src/services/api-keys.js';
import { isLoopback } from '../../src/services/auth-service.js';
import { SecretBox } from '../../src/services/secret-box.js';

describe('SecretBox (AES-256-GCM)', () => {
  it('round-trips, never repeats a ciphertext, and refuses a tampered or foreign one', () => {
    const box = SecretBox.fromSecret('server-secret');
    const a = box.seal('sk-123');
    const b = box.seal('sk-123');
    assert.notEqual(a, b, 'a fresh IV each time');
    assert.ok(!a.includes('sk-123'));
    assert.equal(box.open(a), 'sk-123');
    const parts = a.split('.');
    const body = Buffer.from(parts[3]!, 'base64url');
    body[0] = body[0]! ^ 1;
    assert.throws(() => box.open([...parts.slice(0, 3), body.toString('base64url')].join('.')));
    assert.throws(() => SecretBox.fromSecret('another-secret').open(a));
    assert.throws(() => box.open('garbage'));
  });

  it('without RAGD_SECRET_KEY keeps a 0600 key file in the data dir and reuses it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ragd-secret-'));
    try {
      const sealed = SecretBox.load(null, dir).seal('sk-file');
      assert.equal((await stat(join(dir, 'secret.key'))).mode & 0o777, 0o600);
      assert.equal(SecretBox.load(null, dir).open(sealed), 'sk-file', 'the same key after a restart');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('API keys', () => {
  it('are 256-bit random with a public prefix, and hash stably', () => {
    const k = mintKey();
    assert.ok(looksLikeApiKey(k.key));
    assert.equal(keyPrefixOf(k.key), k.prefix);
    assert.equal(k.hash, hashKey(k.key));
    assert.notEqual(mintKey().key, k.key);
    assert.equal(keyPrefixOf('not-a-key'), null);
  });

  it('treats only loopback hosts as loopback', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', 'localhost']) assert.ok(isLoopback(h), h);
    for (const h of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.1', 'example.com', '127.0.0.1.example.com']) assert.ok(!isLoopback(h), h);
  });
});

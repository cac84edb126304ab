import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isPermanent } from '../../src/domain/errors.js';
import { precheckTextSize } from '../../src/parsing/text-precheck.js';
import { tempDir } from '../support/server.js';

describe('precheckTextSize', () => {
  it('refuses plain text over the character limit, counted from the file in pieces', async () => {
    const path = join(await tempDir(), 'big.txt');
    // 3 MB of ASCII: more than a piece, over a 2.5 M-character limit.
    await writeFile(path, 'a'.repeat(3 * 1024 * 1024));
    assert.throws(
      () => precheckTextSize('text', path, 3 * 1024 * 1024, 2_500_000),
      (err: unknown) => isPermanent(err) && /exceeds the limit of 2500000 characters/.test((err as Error).message),
    );
  });

  it('counts characters, not bytes: Chinese text larger in bytes than the limit passes', async () => {
    const path = join(await tempDir(), 'zh.txt');
    const text = '知识库中的文档。'.repeat(100_000); // 800,000 characters, 2.4 MB
    await writeFile(path, text);
    const bytes = Buffer.byteLength(text);
    assert.ok(bytes > 1_000_000);
    assert.doesNotThrow(() => precheckTextSize('text', path, bytes, 1_000_000));
    assert.throws(() => precheckTextSize('text', path, bytes, 700_000), (err: unknown) => isPermanent(err));
  });

  it('leaves markup formats to their parsers (tags are not text)', async () => {
    const path = join(await tempDir(), 'page.html');
    await writeFile(path, `<p>${'<b></b>'.repeat(1000)}</p>`);
    assert.doesNotThrow(() => precheckTextSize('html', path, 7007, 100));
  });
});

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { REPO_ROOT, startScriptArgs } from '../support/server.js';

const LAUNCHER = join(REPO_ROOT, 'bin', 'ragd.js');

/** The Node flags in the launcher's `#!/usr/bin/env -S node …` line. */
function shebangFlags(): string[] {
  const first = readFileSync(LAUNCHER, 'utf8').split('\n', 1)[0]!;
  const m = /^#!\/usr\/bin\/env -S node(?<flags>(?:\s+\S+)*)\s*$/.exec(first);
  assert.ok(m?.groups, `unexpected shebang: ${first}`);
  return m.groups.flags!.trim().split(/\s+/).filter(Boolean);
}

test('npm start and the ragd launcher run Node with the same flags', () => {
  const args = startScriptArgs();
  const flags = args.slice(0, args.indexOf('bin/ragd.js'));
  assert.deepEqual(args.slice(flags.length), ['bin/ragd.js', 'serve']);
  assert.deepEqual(shebangFlags(), flags);
  assert.ok(flags.includes('--v8-pool-size=1'), 'one V8 helper thread (see "Node flags" in the README)');
  // A smaller young generation and slower old-generation growth: the memory budget (see "Node flags").
  assert.ok(flags.includes('--max-semi-space-size=4') && flags.includes('--heap-growing-percent=50'));
});

test('the container image runs Node with the launcher\'s flags', () => {
  const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8'));
  assert.ok(entrypoint, 'the Dockerfile has an exec-form ENTRYPOINT');
  assert.deepEqual(JSON.parse(entrypoint[1]!), ['node', ...shebangFlags(), 'bin/ragd.js']);
});

test('the launcher runs as an executable through its shebang', async () => {
  // `env -S` splits the flags from "node"; an env without it would fail here, not in production.
  const { stdout } = await promisify(execFile)(LAUNCHER, ['--help'], { cwd: REPO_ROOT });
  assert.match(stdout, /ragd serve/);
});

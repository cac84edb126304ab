#!/usr/bin/env -S node --v8-pool-size=1 --max-semi-space-size=4 --heap-growing-percent=50
// Thin launcher: runs the compiled CLI (built by `npm install` through the `prepare` script).
// One V8 helper thread instead of Node's four: see "Node flags" in the README. The `start` script
// in package.json passes the same flags (test/unit/launch-flags.test.ts keeps them equal).
import('../dist/cli/main.js').catch((err) => {
  console.error(err);
  process.exit(1);
});

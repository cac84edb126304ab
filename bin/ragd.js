#!/usr/bin/env node
// Thin launcher: runs the compiled CLI (built by `npm install` through the `prepare` script).
import('../dist/cli/main.js').catch((err) => {
  console.error(err);
  process.exit(1);
});

/**
 * Resolves a worker module next to the caller. Under `node --import tsx` (tests, benches) the
 * sources are `.ts`; from `dist/` they are `.js`. Worker threads inherit `--import tsx` through
 * process.execArgv, so the same path rule works in both.
 */
export function workerUrl(relative: string, base: string): string {
  const ext = base.endsWith('.ts') ? '.ts' : '.js';
  return new URL(relative.replace(/\.js$/, ext), base).href;
}

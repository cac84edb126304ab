/**
 * Resolves a worker module next to the caller. Under `node --import tsx` (tests, benches) the
 * sources are `.ts`; from `dist/` they are `.js`.
 */
export function workerUrl(relative: string, base: string): string {
  const ext = base.endsWith('.ts') ? '.ts' : '.js';
  return new URL(relative.replace(/\.js$/, ext), base).href;
}

/**
 * On Node 20, tsx registers its loader on the main thread only, so a worker started from the
 * sources cannot import `.ts` modules by inheriting execArgv: it registers tsx itself first.
 * From dist/ (plain .js) nothing is added.
 */
export function workerExecArgv(base: string): string[] | undefined {
  if (!base.endsWith('.ts')) return undefined;
  const api = import.meta.resolve('tsx/esm/api');
  const boot = `data:text/javascript,import{register}from${encodeURIComponent(JSON.stringify(api))};register();`;
  return [...process.execArgv, '--import', boot];
}

/** `filename` and `execArgv` for a piscina pool whose worker module sits next to `base`. */
export function workerModule(relative: string, base: string): { filename: string; execArgv?: string[] } {
  const execArgv = workerExecArgv(base);
  return { filename: workerUrl(relative, base), ...(execArgv ? { execArgv } : {}) };
}

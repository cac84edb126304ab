/**
 * Debian's nginx with deploy/nginx.conf.template rendered for local upstreams: what the deploy
 * test and the cluster-through-nginx test put in front of ragd, and what `bench:cluster` can.
 *
 * Never optional: a missing /usr/sbin/nginx is an error (`.ci/run` installs the package).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultNginxOptions, renderNginxConfig } from '../../deploy/render-nginx.js';
import { freePort, waitFor, type Env } from './server.js';

export const NGINX = process.env.RAGD_TEST_NGINX ?? '/usr/sbin/nginx';

/** Fails with the reason when nginx is not installed. */
export function assertNginxInstalled(): void {
  if (!existsSync(NGINX)) throw new Error(`${NGINX} is missing: .ci/run installs Debian's nginx package`);
}

/** A temp directory nginx can use as its prefix (pid file, temp paths, logs). */
export async function nginxDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ragd-nginx-'));
  // Run as root, nginx's workers drop to nobody and must still reach the directories inside.
  chmodSync(dir, 0o755);
  return dir;
}

/**
 * The template rendered for `upstreams` (host:port each), listening on `listen`, with its runtime
 * directory and logs under `dir`. `env` is ragd's environment (RAGD_MAX_UPLOAD_BYTES…).
 */
export function renderLocalNginx(dir: string, upstreams: readonly string[], listen: string, env: Env = {}): string {
  return renderNginxConfig({
    ...defaultNginxOptions(env),
    upstreams,
    listen,
    runtimeDir: dir,
    errorLog: join(dir, 'error.log'),
    accessLog: join(dir, 'access.log'),
  });
}

export interface RunningNginx {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  readonly dir: string;
  /** nginx's access log so far: `… "GET /path HTTP/1.1" status … upstream=… upstream_status=…` per request. */
  accessLog(): string;
  errorLog(): string;
  /** SIGQUIT (graceful), then the directory is removed (unless it was given). */
  close(): Promise<void>;
}

/**
 * Starts nginx (in the foreground, as a child of this process) in front of `upstreams`; resolves
 * once it answers its own /nginx-healthz. `dir` defaults to a fresh temp directory removed on close.
 */
export async function startNginx(upstreams: readonly string[], opts: { dir?: string; env?: Env } = {}): Promise<RunningNginx> {
  assertNginxInstalled();
  const dir = opts.dir ?? (await nginxDir());
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const file = join(dir, `nginx-${port}.conf`);
  writeFileSync(file, renderLocalNginx(dir, upstreams, `127.0.0.1:${port}`, opts.env));
  let stderr = '';
  const child: ChildProcess = spawn(NGINX, ['-e', 'stderr', '-c', file, '-p', dir, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  // A test that throws past its `after` must not leave nginx listening.
  const onExit = () => child.kill('SIGKILL');
  process.once('exit', onExit);
  const read = (name: string) => (existsSync(join(dir, name)) ? readFileSync(join(dir, name), 'utf8') : '');
  const close = async () => {
    process.off('exit', onExit);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGQUIT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    if (!opts.dir) await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw Object.assign(new Error(`nginx exited: ${stderr}${read('error.log')}`), { fatal: true });
        return (await fetch(`${url}/nginx-healthz`)).ok;
      },
      { timeoutMs: 15_000, what: `nginx to listen on ${port} (${stderr})` },
    );
  } catch (err) {
    await close();
    throw err;
  }
  return { url, dir, accessLog: () => read('access.log'), errorLog: () => stderr + read('error.log'), close };
}

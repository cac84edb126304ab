/**
 * A hermetic ragd cluster for the multi-process tests and `bench:cluster`: a private PostgreSQL 15
 * and a private Redis (own temp directories, free ports), a blob directory every node shares, and
 * ragd roles (`serve`, `serve --worker`, `worker …`) as separate processes.
 *
 * Private engines because these tests restart PostgreSQL and flush Redis: doing that to the shared
 * servers on 5432/6379 would break every other suite running on the machine. Nothing here touches
 * them.
 *
 * Every process started here is also killed (and every directory removed) when the test process
 * exits, even if a test forgot `close()` or threw before it.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { childDefaults, type Env, freePort, REPO_ROOT, sleep, startScriptArgs, waitFor } from './server.js';

/** initdb and postgres: RAGD_TEST_PG_BIN, else the newest Debian-layout install (15 here and in CI). */
const PG_BIN = process.env.RAGD_TEST_PG_BIN ?? newestPostgresBin();
const REDIS_SERVER = process.env.RAGD_TEST_REDIS_SERVER ?? 'redis-server';
const REDIS_CLI = process.env.RAGD_TEST_REDIS_CLI ?? 'redis-cli';
const TAIL_LINES = 60;

function newestPostgresBin(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v) && existsSync(join(root, v, 'bin', 'initdb'))) : [];
  const newest = versions.sort((x, y) => Number(y) - Number(x))[0];
  return join(root, newest ?? '15', 'bin');
}

// ---------------------------------------------------------------------------------------------
// Last-resort cleanup: the exit hook runs even when a test throws past its `after`.

const liveChildren = new Set<ChildProcess>();
const liveDirs = new Set<string>();

process.once('exit', () => {
  for (const child of liveChildren) {
    try {
      // A stopped process ignores SIGKILL until continued on some kernels' job control; be sure.
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
});

function track(child: ChildProcess): void {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
}

async function ownedTempDir(prefix: string, owner?: { uid: number; gid: number }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  if (owner) chownSync(dir, owner.uid, owner.gid);
  liveDirs.add(dir);
  return dir;
}

async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  liveDirs.delete(dir);
}

/** The last `lines` lines of a log file ('' when it does not exist). */
export function tailOf(file: string, lines = TAIL_LINES): string {
  if (!existsSync(file)) return '';
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '').slice(-lines).join('\n');
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A child whose stdout and stderr go to `logFile` (appended), and a promise of its exit. */
function spawnLogged(command: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; logFile: string; uid?: number; gid?: number }) {
  const fd = openSync(opts.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', fd, fd],
      ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.gid } : {}),
    });
  } finally {
    closeSync(fd);
  }
  track(child);
  const exit = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', () => resolve({ code: -1, signal: null }));
  });
  return { child, exit };
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

/** PostgreSQL refuses to run as root: when we are root, its processes run as this user. */
function postgresOwner(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const user = process.env.RAGD_TEST_PG_USER ?? 'postgres';
  try {
    const uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    throw new Error(`running as root, and there is no "${user}" user to run PostgreSQL as (set RAGD_TEST_PG_USER)`);
  }
}

export interface PrivatePostgres {
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  readonly url: string;
  readonly port: number;
  readonly logFile: string;
  /** True while the server process runs. */
  running(): boolean;
  /** Starts the server (after `stop`) on the same port and data; resolves when it accepts queries. */
  start(): Promise<void>;
  /**
   * Stops the server. `fast` (SIGINT) disconnects clients and shuts down cleanly; `immediate`
   * (SIGQUIT) is a crash: the next start replays the WAL.
   */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  /** stop, stay down for `downMs`, start. */
  restart(opts?: { mode?: 'fast' | 'immediate'; downMs?: number }): Promise<void>;
  /** One statement on a fresh connection (so it works across restarts). */
  query<R extends pg.QueryResultRow = any>(sql: string, params?: unknown[]): Promise<R[]>;
  /** Stops the server and removes its directory. */
  close(): Promise<void>;
}

/** A PostgreSQL 15 of its own: initdb in a temp dir, trust auth, fsync off, on a free port. */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const owner = postgresOwner();
  const dir = await ownedTempDir('ragd-pg-', owner);
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'postgres.log');
  const port = await freePort();
  const run = (bin: string, args: string[]) =>
    promisify(execFile)(join(PG_BIN, bin), args, { cwd: dir, ...(owner ?? {}), timeout: 120_000 });
  try {
    await run('initdb', ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions']);
  } catch (err) {
    await removeDir(dir);
    const e = err as { stderr?: string; message: string };
    throw new Error(`initdb failed (is PostgreSQL 15 at ${PG_BIN}?): ${e.stderr || e.message}`);
  }
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let proc: ReturnType<typeof spawnLogged> | null = null;
  let exited = true;

  const ready = async () => {
    await waitFor(
      async () => {
        if (exited) throw Object.assign(new Error(`postgres exited:\n${tailOf(logFile, 20)}`), { fatal: true });
        const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
        try {
          await c.connect();
          await c.query('SELECT 1');
          return true;
        } finally {
          await c.end().catch(() => {});
        }
      },
      { timeoutMs: 60_000, intervalMs: 100, what: `private PostgreSQL on port ${port}` },
    );
  };

  const api: PrivatePostgres = {
    url,
    port,
    logFile,
    running: () => !exited,
    async start() {
      if (!exited) return;
      exited = false;
      proc = spawnLogged(
        join(PG_BIN, 'postgres'),
        [
          '-D', dataDir,
          '-p', String(port),
          '-h', '127.0.0.1',
          '-k', dir,
          // Speed over durability: these databases live for one test run.
          '-c', 'fsync=off',
          '-c', 'synchronous_commit=off',
          '-c', 'full_page_writes=off',
          '-c', 'max_connections=300',
          '-c', 'shared_buffers=64MB',
        ],
        { cwd: dir, logFile, ...(owner ?? {}) },
      );
      void proc.exit.then(() => (exited = true));
      await ready();
    },
    async stop(mode = 'fast') {
      if (exited || !proc) return;
      proc.child.kill(mode === 'fast' ? 'SIGINT' : 'SIGQUIT');
      const timer = setTimeout(() => proc?.child.kill('SIGKILL'), 30_000);
      await proc.exit;
      clearTimeout(timer);
    },
    async restart(opts = {}) {
      await api.stop(opts.mode ?? 'fast');
      if (opts.downMs) await sleep(opts.downMs);
      await api.start();
    },
    async query(sql, params = []) {
      const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
      await c.connect();
      try {
        return (await c.query(sql, params)).rows;
      } finally {
        await c.end().catch(() => {});
      }
    },
    async close() {
      await api.stop('immediate');
      await removeDir(dir);
    },
  };
  try {
    await api.start();
  } catch (err) {
    await api.close();
    throw err;
  }
  return api;
}

// ---------------------------------------------------------------------------------------------
// Redis

export interface PrivateRedis {
  /** redis://127.0.0.1:<port> */
  readonly url: string;
  readonly port: number;
  readonly logFile: string;
  running(): boolean;
  /** Runs one command through redis-cli; its trimmed output. */
  command(...args: string[]): Promise<string>;
  /** FLUSHALL: every database of this private server emptied. */
  flushAll(): Promise<void>;
  start(): Promise<void>;
  /** Kills the server (it keeps nothing on disk: the next start is empty). */
  stop(): Promise<void>;
  /** stop, stay down for `downMs`, start again empty on the same port. */
  restart(opts?: { downMs?: number }): Promise<void>;
  close(): Promise<void>;
}

/** A redis-server of its own on a free port, persisting nothing (like this machine's Redis). */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const dir = await ownedTempDir('ragd-redis-');
  const logFile = join(dir, 'redis.log');
  const port = await freePort();
  let proc: ReturnType<typeof spawnLogged> | null = null;
  let exited = true;
  const cli = async (...args: string[]) => {
    const { stdout } = await promisify(execFile)(REDIS_CLI, ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 10_000 });
    return stdout.trim();
  };
  const api: PrivateRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    logFile,
    running: () => !exited,
    command: cli,
    async flushAll() {
      const out = await cli('FLUSHALL');
      if (out !== 'OK') throw new Error(`FLUSHALL answered ${out}`);
    },
    async start() {
      if (!exited) return;
      exited = false;
      proc = spawnLogged(
        REDIS_SERVER,
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no', '--maxmemory-policy', 'noeviction'],
        { cwd: dir, logFile },
      );
      void proc.exit.then(() => (exited = true));
      await waitFor(
        async () => {
          if (exited) throw Object.assign(new Error(`redis-server exited:\n${tailOf(logFile, 20)}`), { fatal: true });
          return (await cli('PING')) === 'PONG';
        },
        { timeoutMs: 30_000, intervalMs: 100, what: `private Redis on port ${port}` },
      );
    },
    async stop() {
      if (exited || !proc) return;
      proc.child.kill('SIGKILL');
      await proc.exit;
    },
    async restart(opts = {}) {
      await api.stop();
      if (opts.downMs) await sleep(opts.downMs);
      await api.start();
    },
    async close() {
      await api.stop();
      await removeDir(dir);
    },
  };
  try {
    await api.start();
  } catch (err) {
    await api.close();
    throw err;
  }
  return api;
}

// ---------------------------------------------------------------------------------------------
// ragd processes

export interface RagdProcess {
  /** A label for logs: "api-a", "worker-1"… */
  readonly name: string;
  readonly args: readonly string[];
  readonly url: string;
  readonly port: number;
  readonly logFile: string;
  pid(): number | undefined;
  running(): boolean;
  /** Resolves with the exit of the current incarnation. */
  exited(): Promise<Exit>;
  /** Waits until /readyz answers 200 (rejects with the log tail if the process exits first). */
  ready(timeoutMs?: number): Promise<void>;
  /** kill -9, and wait for the exit. */
  kill9(): Promise<Exit>;
  /** SIGSTOP: the process keeps its sockets but runs nothing (its locks lapse). */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** SIGTERM (graceful stop); waits up to `timeoutMs` (then SIGKILL) and returns the exit. */
  terminate(timeoutMs?: number): Promise<Exit>;
  /** Starts it again with the same arguments, environment, port and data directory; waits for ready. */
  restart(): Promise<void>;
  /** The last lines of its output. */
  tail(lines?: number): string;
}

export interface SpawnRagdOptions {
  name: string;
  /** Run bin/ragd.js over dist/ with the start script's Node flags (benchmarks), not the sources through tsx. */
  compiled?: boolean;
  /** Where its output is appended. */
  logDir: string;
  /** Wait for /readyz before resolving (default true). */
  waitReady?: boolean;
  readyTimeoutMs?: number;
}

/**
 * `ragd <args…>` as a child process with its own RAGD_PORT and RAGD_DATA_DIR (created under
 * `logDir` unless `env` names one). Resolves once /readyz answers 200 (workers serve it too).
 */
export async function spawnRagd(args: string[], env: Env, opts: SpawnRagdOptions): Promise<RagdProcess> {
  const port = env.RAGD_PORT !== undefined ? Number(env.RAGD_PORT) : await freePort();
  const dataDir = env.RAGD_DATA_DIR ?? join(opts.logDir, `${opts.name}-data`);
  await mkdir(dataDir, { recursive: true });
  const logFile = join(opts.logDir, `${opts.name}.log`);
  const fullEnv: NodeJS.ProcessEnv = {
    ...process.env,
    RAGD_LOG_FORMAT: 'json',
    ...childDefaults(opts.compiled),
    ...env,
    RAGD_PORT: String(port),
    RAGD_DATA_DIR: dataDir,
  };
  const nodeArgs = (process.env.RAGD_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const entry = opts.compiled ? startScriptArgs().slice(0, -1) : ['--import', 'tsx', 'src/cli/main.ts'];
  const url = `http://127.0.0.1:${port}`;
  let proc!: ReturnType<typeof spawnLogged>;
  let alive = false;

  const launch = () => {
    proc = spawnLogged(process.execPath, [...nodeArgs, ...entry, ...args], { cwd: REPO_ROOT, env: fullEnv, logFile });
    alive = true;
    const mine = proc;
    void mine.exit.then(() => {
      if (proc === mine) alive = false;
    });
  };

  const tail = (lines = TAIL_LINES) => tailOf(logFile, lines);
  const self: RagdProcess = {
    name: opts.name,
    args,
    url,
    port,
    logFile,
    pid: () => proc.child.pid,
    running: () => alive,
    exited: () => proc.exit,
    async ready(timeoutMs = opts.readyTimeoutMs ?? 90_000) {
      try {
        await waitFor(
          async () => {
            if (!alive) {
              const e = await proc.exit;
              throw Object.assign(new Error(`${opts.name} exited (code ${e.code}, signal ${e.signal})`), { fatal: true });
            }
            const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) });
            await res.body?.cancel();
            return res.status === 200;
          },
          { timeoutMs, intervalMs: 150, what: `${opts.name} (ragd ${args.join(' ')}) on port ${port} to be ready` },
        );
      } catch (err) {
        throw new Error(`${(err as Error).message}\n--- ${opts.name} output (${logFile}) ---\n${tail()}`);
      }
    },
    async kill9() {
      proc.child.kill('SIGKILL');
      return proc.exit;
    },
    pause() {
      proc.child.kill('SIGSTOP');
    },
    resume() {
      proc.child.kill('SIGCONT');
    },
    async terminate(timeoutMs = 30_000) {
      if (!alive) return proc.exit;
      proc.child.kill('SIGCONT');
      proc.child.kill('SIGTERM');
      const timer = setTimeout(() => proc.child.kill('SIGKILL'), timeoutMs);
      const e = await proc.exit;
      clearTimeout(timer);
      return e;
    },
    async restart() {
      if (alive) throw new Error(`${opts.name} is still running: stop it before restarting`);
      launch();
      await self.ready();
    },
    tail,
  };
  launch();
  if (opts.waitReady !== false) {
    try {
      await self.ready();
    } catch (err) {
      await self.kill9();
      throw err;
    }
  }
  return self;
}

// ---------------------------------------------------------------------------------------------
// The cluster

export interface ClusterOptions {
  /** API nodes (`ragd serve`), default 2. */
  apis?: number;
  /** One entry per worker: its extra arguments after `worker` (default two workers, all stages). */
  workers?: string[][];
  /** Environment for every ragd process (on top of the cluster's own). */
  env?: Env;
  compiled?: boolean;
  /**
   * Start every process at once on the empty database, so their migrations run together (the
   * advisory lock must serialize them). Default: the API nodes one after another, then the workers.
   */
  startTogether?: boolean;
}

export interface Cluster {
  pg: PrivatePostgres;
  redis: PrivateRedis;
  /** The directory every node shares (RAGD_BLOB_DIR). */
  blobDir: string;
  /** What every ragd process of this cluster gets: URLs, blob dir and the options' env. */
  env: Env;
  apis: RagdProcess[];
  workers: RagdProcess[];
  /** Another ragd process of this cluster: `['serve']`, `['worker', '--stages', 'embed']`… */
  spawn(args: string[], opts?: { name?: string; env?: Env; waitReady?: boolean }): Promise<RagdProcess>;
  /** Every process's output tail, for a failure message. */
  logs(lines?: number): string;
  /** Stops every process (kill -9: nothing here needs a clean exit), both engines, removes all dirs. */
  close(): Promise<void>;
}

/** Private PostgreSQL and Redis, then `apis` API nodes and the workers, all ready. */
export async function startCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  const root = await ownedTempDir('ragd-cluster-');
  const blobDir = join(root, 'blobs');
  await mkdir(blobDir);
  const processes: RagdProcess[] = [];
  let pgServer: PrivatePostgres | null = null;
  let redis: PrivateRedis | null = null;
  const close = async () => {
    await Promise.all(processes.map((p) => (p.running() ? p.kill9() : null)));
    await Promise.all([pgServer?.close(), redis?.close()]);
    await removeDir(root);
  };
  try {
    [pgServer, redis] = await Promise.all([startPrivatePostgres(), startPrivateRedis()]);
    const env: Env = {
      RAGD_DATABASE_URL: pgServer.url,
      RAGD_REDIS_URL: redis.url,
      RAGD_BLOB_DIR: blobDir,
      ...opts.env,
    };
    let seq = 0;
    const spawnOne = async (args: string[], o: { name?: string; env?: Env; waitReady?: boolean } = {}) => {
      const name = o.name ?? `${args[0]}-${++seq}`;
      const p = await spawnRagd(args, { ...env, ...o.env }, { name, logDir: root, compiled: opts.compiled, waitReady: o.waitReady });
      processes.push(p);
      return p;
    };
    const startApis = () => Array.from({ length: opts.apis ?? 2 }, (_, i) => () => spawnOne(['serve'], { name: `api-${'abcdefgh'[i]}` }));
    const startWorkers = () => (opts.workers ?? [[], []]).map((extra, i) => () => spawnOne(['worker', ...extra], { name: `worker-${i + 1}` }));
    let apis: RagdProcess[];
    let workers: RagdProcess[];
    if (opts.startTogether) {
      const all = await Promise.all([...startApis(), ...startWorkers()].map((start) => start()));
      apis = all.slice(0, opts.apis ?? 2);
      workers = all.slice(opts.apis ?? 2);
    } else {
      // By default one API node after another: a clean log is easier to read than a race.
      apis = [];
      for (const start of startApis()) apis.push(await start());
      workers = await Promise.all(startWorkers().map((start) => start()));
    }
    return {
      pg: pgServer,
      redis,
      blobDir,
      env,
      apis,
      workers,
      spawn: spawnOne,
      logs(lines = TAIL_LINES) {
        const parts = processes.map((p) => `--- ${p.name} (ragd ${p.args.join(' ')}, ${p.running() ? 'running' : 'exited'}) ---\n${p.tail(lines)}`);
        parts.push(`--- postgres ---\n${tailOf(pgServer!.logFile, 15)}`, `--- redis ---\n${tailOf(redis!.logFile, 10)}`);
        return parts.join('\n');
      },
      close,
    };
  } catch (err) {
    const tails = processes.map((p) => `--- ${p.name} ---\n${p.tail()}`).join('\n');
    await close();
    throw tails ? new Error(`${(err as Error).message}\n${tails}`) : err;
  }
}

/**
 * Wraps a test body so that a failure carries the cluster's logs: node:test prints the error, and
 * the processes' output is the only way to see why a separate process did what it did.
 */
export function withClusterLogs<A extends unknown[]>(cluster: () => Cluster | undefined, fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      const c = cluster();
      if (c && err instanceof Error) err.message += `\n\n===== cluster logs =====\n${c.logs()}`;
      throw err;
    }
  };
}

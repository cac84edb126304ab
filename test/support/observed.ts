/**
 * ragd in this process with its real logger (createLogger: redaction, request context) writing
 * JSON lines into memory, so a test can read every line the server logged.
 */
import { rm } from 'node:fs/promises';
import { createLogger } from '../../src/app/logger.js';
import { startServer, type RunningServer } from '../../src/app/server.js';
import { loadConfig } from '../../src/config/config.js';
import { type Env, tempDir } from './server.js';

export interface ObservedServer {
  url: string;
  dataDir: string;
  server: RunningServer;
  /** Every log line so far, parsed. */
  logs(): Record<string, unknown>[];
  /** Every log line so far, as written. */
  rawLogs(): string;
  close(): Promise<void>;
}

export async function startObservedServer(env: Env, opts: { logLevel?: string } = {}): Promise<ObservedServer> {
  const dataDir = await tempDir('ragd-obs-');
  const lines: string[] = [];
  const logger = createLogger(opts.logLevel ?? 'debug', { destination: { write: (line: string) => void lines.push(line) } });
  // Some options (query knobs) are read from process.env at start-up.
  const saved = new Map(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  let server: RunningServer;
  try {
    const config = loadConfig({ RAGD_HOST: '127.0.0.1', RAGD_WORKERS: '2', RAGD_SHUTDOWN_TIMEOUT_MS: '5000', ...env, RAGD_PORT: '0', RAGD_DATA_DIR: dataDir });
    server = await startServer(config, logger);
  } catch (err) {
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  let closed: Promise<void> | null = null;
  return {
    url: server.url,
    dataDir,
    server,
    logs: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
    rawLogs: () => lines.join(''),
    close() {
      closed ??= (async () => {
        await server.close();
        await rm(dataDir, { recursive: true, force: true });
      })();
      return closed;
    },
  };
}

/** One sample of a Prometheus text exposition: `name{labels} value` (labels exactly as printed). */
export function sample(text: string, name: string, labels = ''): number | undefined {
  const prefix = labels ? `${name}{${labels}} ` : `${name} `;
  const line = text.split('\n').find((l) => l.startsWith(prefix));
  return line === undefined ? undefined : Number(line.slice(prefix.length));
}

export async function scrape(url: string): Promise<string> {
  const res = await fetch(`${url}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics: HTTP ${res.status}`);
  return res.text();
}

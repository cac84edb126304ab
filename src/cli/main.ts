import { flagsToEnv, loadConfig } from '../config/config.js';

const USAGE = `ragd — a RAG knowledge-base server

Usage:
  ragd serve [--port 8080] [--host 127.0.0.1] [--data-dir ./data] [--worker]
  ragd worker [--stages parse,ocr,chunk,embed,index] [--query-jobs]   cluster mode: runs stages and query jobs
  ragd ingest <files|dirs…> [--kb default] [--url http://127.0.0.1:8080] [--embedded]
  ragd query "<question>" [--kb default] [--top-k 5] [--mode hybrid] [--stream] [--embedded]
  ragd admin init | tenants | keys | settings …  (ragd admin help)
  ragd mcp [--url http://127.0.0.1:8080]   MCP over stdio, proxied to a running server's /mcp
  ragd migrate   create or upgrade the cluster's PostgreSQL schema (RAGD_DATABASE_URL)

Against a server that requires credentials, set RAGD_API_KEY (or --api-key) to a tenant key or JWT.

Every flag mirrors a RAGD_* environment variable (--data-dir is RAGD_DATA_DIR).`;

/** Flags that take no value (everything else is --name value). */
const SWITCHES = ['embedded', 'stream', 'help', 'json', 'only-context', 'worker', 'query-jobs'];

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const { env, positional, switches } = flagsToEnv(rest, SWITCHES);
  const config = loadConfig({ ...process.env, ...env });
  // --api-key / --admin-key reach the HTTP clients the way the variables do.
  for (const name of ['RAGD_API_KEY', 'RAGD_ADMIN_KEY'] as const) if (env[name] !== undefined) process.env[name] = env[name];
  switch (command) {
    case 'serve': {
      const { serve } = await import('./serve.js');
      await serve(config, { worker: switches.has('worker') });
      return -1;
    }
    case 'worker': {
      const { worker } = await import('./worker.js');
      return worker(config, { ...(env.RAGD_STAGES !== undefined ? { stages: env.RAGD_STAGES } : {}), queryJobs: switches.has('query-jobs') });
    }
    case 'ingest': {
      const { ingest } = await import('./ingest.js');
      return ingest(config, positional, { ...env }, switches);
    }
    case 'query': {
      const { query } = await import('./query.js');
      return query(config, positional, { ...env }, switches);
    }
    case 'mcp': {
      const { mcp } = await import('./mcp.js');
      return mcp(config, { ...env });
    }
    case 'migrate': {
      const { migrateCommand } = await import('./migrate.js');
      return migrateCommand(config);
    }
    case 'admin': {
      const { admin, ADMIN_USAGE } = await import('./admin.js');
      if (positional.length === 0 || positional[0] === 'help') {
        console.log(ADMIN_USAGE);
        return 0;
      }
      return admin(config, positional, { ...env }, switches);
    }
    case undefined:
    case 'help':
    case '--help':
      console.log(USAGE);
      return 0;
    default:
      console.error(`unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);

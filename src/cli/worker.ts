import { createLogger } from '../app/logger.js';
import type { RuntimeRoles } from '../app/runtime.js';
import { startWorker } from '../app/worker.js';
import type { Config } from '../config/config.js';
import { STAGES, type PipelineStage } from '../domain/types.js';
import { closeOnSignals } from './serve.js';

/**
 * `ragd worker [--stages parse,chunk,embed,index] [--query-jobs]`: runs the named pipeline stages
 * and /retrieve query jobs. Without flags it runs every stage and query jobs; a flag narrows it to
 * what it names (`--stages embed,index` runs no query job, `--query-jobs` alone runs no stage). Workers split by kind of work scale on their own: CPU-bound (parse, ocr, chunk)
 * and model-bound (embed, index).
 */
export async function worker(config: Config, flags: { stages?: string; queryJobs: boolean }): Promise<number> {
  const roles = workerRoles(flags);
  if (typeof roles === 'string') {
    console.error(roles);
    return 2;
  }
  const logger = createLogger(config.logLevel);
  const running = await startWorker(config, logger, roles);
  logger.info({ probes: running.url, stages: roles.stages, query_jobs: roles.queryJobs }, 'ragd worker is running');
  closeOnSignals(running, config, logger);
  return -1;
}

/** The roles the flags ask for, or why they make no sense. */
export function workerRoles(flags: { stages?: string; queryJobs: boolean }): RuntimeRoles | string {
  // No flag: every stage and query jobs. Any flag narrows to what it names.
  if (flags.stages === undefined) return flags.queryJobs ? { stages: [], queryJobs: true } : { stages: STAGES, queryJobs: true };
  const names = flags.stages.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const unknown = names.filter((s) => !(STAGES as readonly string[]).includes(s));
  if (unknown.length > 0) return `unknown stage ${unknown.map((s) => `"${s}"`).join(', ')}: --stages takes a comma-separated list of ${STAGES.join(', ')}`;
  if (names.length === 0) return `--stages needs at least one of ${STAGES.join(', ')}`;
  return { stages: STAGES.filter((s) => names.includes(s)) as PipelineStage[], queryJobs: flags.queryJobs };
}

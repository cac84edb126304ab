/**
 * The tenant isolation matrix (test/contract/isolation.contract.ts) against a cluster: two API
 * nodes and two workers as separate processes on a private PostgreSQL and Redis. Requests,
 * sockets and cached answers are spread over both nodes, so a node that trusted another's state
 * (a cache, a settings copy, an event) for the wrong tenant would show here.
 */
import { describeIsolationMatrix } from '../contract/isolation.contract.js';
import { startCluster } from '../support/cluster.js';

describeIsolationMatrix(
  'cluster: 2 API nodes, 2 workers',
  async (env) => {
    const cluster = await startCluster({ apis: 2, workers: [[], []], env });
    return { urls: cluster.apis.map((n) => n.url), close: () => cluster.close(), logs: () => cluster.logs() };
  },
  { timeout: 600_000 },
);

import { describeIsolationMatrix } from '../contract/isolation.contract.js';
import { startTestServer } from '../support/server.js';

// The matrix (test/contract/isolation.contract.ts) against the embedded server, in this process.
describeIsolationMatrix('embedded', async (env) => {
  const server = await startTestServer(env);
  return { urls: [server.url], close: () => server.close() };
});

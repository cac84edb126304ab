import { createRequire } from 'node:module';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import type { Config } from '../config/config.js';
import { authHeader } from './credentials.js';
import { serverUrl } from './ingest.js';

/**
 * `ragd mcp`: an MCP server on stdin/stdout for clients that launch their tools as processes
 * (Claude Desktop and the like). It holds no tools of its own: it forwards the tool list and every
 * call to the `/mcp` endpoint of a running ragd (RAGD_URL, else the RAGD_HOST/RAGD_PORT one),
 * with RAGD_API_KEY as the credential, so both transports offer exactly the same tools, scoped to
 * the same tenant. Only protocol goes to stdout; diagnostics go to stderr.
 */

type Env = Record<string, string | undefined>;

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

export async function mcp(config: Config, env: Env): Promise<number> {
  const endpoint = new URL('/mcp', `${serverUrl(config, env)}/`);
  const upstream = new Client({ name: 'ragd-mcp-stdio', version });
  try {
    await upstream.connect(new StreamableHTTPClientTransport(endpoint, { requestInit: { headers: authHeader() } }));
  } catch (err) {
    console.error(`ragd mcp: cannot reach ragd's MCP endpoint at ${endpoint.href} (${err instanceof Error ? err.message : String(err)}): start it with \`ragd serve\`, set RAGD_URL, and RAGD_API_KEY if it needs credentials`);
    return 1;
  }

  const local = new Server(
    { name: 'ragd', version },
    { capabilities: { tools: {} }, ...(upstream.getInstructions() ? { instructions: upstream.getInstructions()! } : {}) },
  );
  local.setRequestHandler(ListToolsRequestSchema, (request, extra) => upstream.listTools(request.params, { signal: extra.signal }));
  local.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    try {
      return await upstream.callTool(request.params, undefined, { signal: extra.signal });
    } catch (err) {
      // The server went away or refused the call: the agent gets a tool error it can show.
      return { isError: true, content: [{ type: 'text' as const, text: `ragd at ${endpoint.origin}: ${err instanceof Error ? err.message : String(err)}` }] };
    }
  });

  const stdio = new StdioServerTransport();
  const closed = new Promise<void>((resolve) => {
    local.onclose = () => resolve();
  });
  await local.connect(stdio);
  await closed;
  await upstream.close();
  return 0;
}

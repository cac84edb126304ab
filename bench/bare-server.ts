/**
 * The reference for bench:query (c): a bare Fastify route that answers every POST with a fixed
 * JSON body (the bench passes a real cached ragd answer, so both send the same bytes). Run as a
 * child process: `node --import tsx bench/bare-server.ts <payload.json>`; prints `listening <port>`.
 */
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';

const payloadPath = process.argv[2];
if (!payloadPath) throw new Error('usage: bare-server.ts <payload.json>');
const payload = JSON.parse(readFileSync(payloadPath, 'utf8')) as unknown;

const app = Fastify({ logger: false });
app.post('/v1/kbs/:kb/query', async () => payload);
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
console.log(`listening ${typeof address === 'object' && address ? address.port : 0}`);

process.on('SIGTERM', () => {
  void app.close().then(() => process.exit(0));
});

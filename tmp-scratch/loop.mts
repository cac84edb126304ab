import { startTestServer } from '../test/support/server.ts';
const srv = await startTestServer();
await (await fetch(`${srv.url}/metrics`)).text();
const block = Date.now() + 150;
while (Date.now() < block) {}
await new Promise((r) => setTimeout(r, 50));
const t = await (await fetch(`${srv.url}/metrics`)).text();
console.log(t.split('\n').filter((l) => l.startsWith('ragd_event_loop')).join('\n'));
await srv.close();

/**
 * The attacker of bench:abuse's abort phase, in its own process: 200 concurrent fetches aborted
 * after 40 ms keep an event loop busy, and the victim's probes must not share that loop or the
 * figures would measure the benchmark instead of the server.
 *
 *   node --import tsx bench/abort-flood.ts <server url> <tenant key> <total>
 *
 * Prints one JSON line: { sent, ms }.
 */
const [url, key, totalArg] = process.argv.slice(2);
if (!url || !key) {
  console.error('usage: abort-flood.ts <server url> <tenant key> [total]');
  process.exit(2);
}
const total = Number(totalArg ?? 2000);
const CONCURRENCY = 200;
const ABORT_AFTER_MS = 40;

let sent = 0;
const started = performance.now();
const attacker = async () => {
  while (sent < total) {
    sent++;
    const c = new AbortController();
    const timer = setTimeout(() => c.abort(), ABORT_AFTER_MS);
    await fetch(`${url}/v1/kbs/default/query`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ query: `flood ${sent} ${Math.random()}`, only_context: true }),
      signal: c.signal,
    })
      .then((r) => r.text())
      .catch(() => null);
    clearTimeout(timer);
  }
};
await Promise.all(Array.from({ length: CONCURRENCY }, attacker));
console.log(JSON.stringify({ sent, ms: Math.round(performance.now() - started) }));

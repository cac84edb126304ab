// Container health check: `node deploy/healthcheck.mjs [path]` exits 0 when ragd answers 200 on
// http://127.0.0.1:$RAGD_PORT<path> (default /healthz) within 3 s, 1 otherwise. Plain Node, so the
// runtime image needs no curl or wget.
const path = process.argv[2] ?? '/healthz';
const port = process.env.RAGD_PORT || '8080';

try {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(3000) });
  await res.body?.cancel();
  process.exit(res.status === 200 ? 0 : 1);
} catch {
  process.exit(1);
}

/**
 * A stand-in for src/workers/ingest-tasks.ts with the same task names, run by a real IngestPool
 * in tests: `parse` spins for `input.ms` of CPU (a slow file), `chunk` allocates until the
 * thread runs out of memory (a file that balloons its parser).
 */
export function parse(input: { ms: number }): { ok: true; value: number } {
  const end = Date.now() + input.ms;
  let n = 0;
  while (Date.now() < end) n++;
  return { ok: true, value: n };
}

export function chunk(): never {
  const hoard: number[][] = [];
  for (;;) hoard.push(Array.from({ length: 100_000 }, (_, i) => i));
}

export function embedHash(): { ok: true; value: null } {
  return { ok: true, value: null };
}

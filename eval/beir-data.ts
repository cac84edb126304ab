/** A BEIR-layout data set's files (../shared/eval/<set>) and the small helpers the evals share. */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Qrels } from './ir-metrics.js';

const EVAL_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'shared', 'eval');

/** The files of one data set, by name (`scifact`, `stard-zh`). */
export function dataSet(name: string) {
  if (!/^[a-z0-9-]+$/.test(name)) throw new Error(`invalid data set name ${name}`);
  const dir = join(EVAL_DIR, name);
  return {
    jsonl: <T>(file: string): T[] => jsonlIn<T>(dir, file),
    readQrels: (file: string): Qrels => readQrelsIn(dir, file),
  };
}

export function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
}

const jsonlIn = <T>(dir: string, file: string): T[] =>
  readFileSync(join(dir, file), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as T);

function readQrelsIn(dir: string, file: string): Qrels {
  const qrels: Qrels = new Map();
  for (const line of readFileSync(join(dir, file), 'utf8').split('\n').slice(1)) {
    const [q, d, s] = line.trim().split('\t');
    if (!q || !d || Number(s) <= 0) continue;
    if (!qrels.has(q)) qrels.set(q, new Set());
    qrels.get(q)!.add(d);
  }
  return qrels;
}

/** Runs `fn` over `items` with at most `n` in flight. */
export async function pool<T, R>(items: T[], n: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}

/**
 * Runs every closing step in order even when one fails (a dead Redis must not leave the
 * PostgreSQL pool open), then throws the first failure.
 */
export async function closeAll(steps: readonly (() => unknown)[]): Promise<void> {
  const failures: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (err) {
      failures.push(err);
    }
  }
  if (failures.length > 0) throw failures[0];
}

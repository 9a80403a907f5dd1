// Benchmark helpers: run a function repeatedly for a time budget and report operations per second.
// Ratios against a baseline measured in the same run are what the benchmarks report, since absolute
// figures depend on the machine.

export interface Rate { ops: number; seconds: number; perSecond: number }

export function measure(fn: () => void, budgetMs = 1000, batch = 100): Rate {
  for (let i = 0; i < batch; i++) fn(); // warm-up
  let ops = 0;
  const t0 = process.hrtime.bigint();
  const end = t0 + BigInt(budgetMs) * 1_000_000n;
  let now = t0;
  while (now < end) {
    for (let i = 0; i < batch; i++) fn();
    ops += batch;
    now = process.hrtime.bigint();
  }
  const seconds = Number(now - t0) / 1e9;
  return { ops, seconds, perSecond: ops / seconds };
}

/** Best of `rounds` measurements of a and b, interleaved so both see the same machine state. */
export function compare(a: () => void, b: () => void, rounds = 5, budgetMs = 400): { a: number; b: number; ratio: number } {
  let best = { a: 0, b: 0 };
  for (let r = 0; r < rounds; r++) {
    best = { a: Math.max(best.a, measure(a, budgetMs).perSecond), b: Math.max(best.b, measure(b, budgetMs).perSecond) };
  }
  return { ...best, ratio: best.a / best.b };
}

export function line(label: string, value: string): void {
  console.log(`${label.padEnd(58)} ${value}`);
}

export interface Summary { n: number; mean: number; median: number; p95: number; min: number; max: number }

/** Mean, median, 95th percentile, min and max of `samples` (any unit). */
export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new RangeError('samples must not be empty');
  const s = [...samples].sort((x, y) => x - y);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  return { n: s.length, mean, median: at(0.5), p95: at(0.95), min: s[0]!, max: s[s.length - 1]! };
}

/** "met" or "MISSED", for a figure printed beside its target. */
export function verdict(ok: boolean): string {
  return ok ? 'met' : 'MISSED';
}

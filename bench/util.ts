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

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

/**
 * Like measure, but operations per second of this process's CPU time (user + system) rather than of
 * wall time: time the process spends preempted by others on a shared machine is not counted.
 */
export function measureCpu(fn: () => void, budgetMs = 1000, batch = 100): Rate {
  for (let i = 0; i < batch; i++) fn(); // warm-up
  let ops = 0;
  const c0 = process.cpuUsage();
  let used = 0;
  while (used < budgetMs * 1000) {
    for (let i = 0; i < batch; i++) fn();
    ops += batch;
    const c = process.cpuUsage(c0);
    used = c.user + c.system;
  }
  return { ops, seconds: used / 1e6, perSecond: ops / (used / 1e6) };
}

/**
 * Best of `rounds` measurements of a and b, interleaved so both see the same machine state; `cpu`
 * counts CPU time instead of wall time (measureCpu).
 */
export function compare(a: () => void, b: () => void, rounds = 5, budgetMs = 400, cpu = false): { a: number; b: number; ratio: number } {
  const m = cpu ? measureCpu : measure;
  let best = { a: 0, b: 0 };
  for (let r = 0; r < rounds; r++) {
    best = { a: Math.max(best.a, m(a, budgetMs).perSecond), b: Math.max(best.b, m(b, budgetMs).perSecond) };
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

// 8. Verifier cluster over Redis, against a real redis-server started here on loopback:
//  a. verifications per second with the Redis stores vs the in-memory stores (target ≥ 0.5×), with
//     where the time goes: this process's CPU and the Redis server's CPU per verification;
//  b. two verifier processes vs one, both over Redis (scaling, on this machine's cores);
//  c. latency of one verification at a time with Redis: median and p99, against the memory store's;
//  d. challenge() during a flood of challenge requests, against drawing a bare random nonce.
// Every answer is fresh (its own sealed challenge, attested by a soft-chip device beforehand), so
// every verification does the whole job: open the seal, look up the key, read the revocation list,
// verify the MAC and policy, spend the challenge.
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { keyMap, Verifier } from '../host/backend.js';
import { openRedisStores } from '../host/verifier/redis-stores.js';
import { startRedis } from '../test/support/redis.js';
import { type Answer, benchDevice, benchKeys, CONCURRENCY } from './cluster-device.js';
import { processCpu } from './roundtrip.js';
import { line, measure, summarize, verdict } from './util.js';

const N = 10_000;
const ROUNDS = 5;
const LATENCY_SAMPLES = 3000;
const TARGET_RATIO = 0.5;

export interface ClusterFigures {
  memoryPerSecond: number;
  redisPerSecond: number;
  ratio: number;
  met: boolean;
  /** CPU per verification, µs: this process with each store, and the Redis server. */
  cpuMemoryUs: number;
  cpuRedisClientUs: number;
  cpuRedisServerUs: number | undefined;
  cpuRatio: number;
  oneProcessPerSecond: number;
  twoProcessesPerSecond: number;
  scaling: number;
  latencyRedisUs: { median: number; p99: number };
  latencyMemoryUs: { median: number; p99: number };
  p99Ratio: number;
  /** µs per challenge() after 200 000 unanswered ones, and per bare randomBytes(49). */
  challengeUs: number;
  randomNonceUs: number;
}

function prepare(v: Verifier, n: number): Answer[] {
  const device = benchDevice();
  return Array.from({ length: n }, () => { const nonce = v.challenge().nonce; return { nonce, response: device.attest(nonce) }; });
}

async function throughput(v: Verifier, answers: Answer[]): Promise<{ perSecond: number; cpuUs: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const r = await v.verifyBatch(answers);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const bad = r.find((x) => !x.ok);
  if (bad && !bad.ok) throw bad.error;
  return { perSecond: answers.length / s, cpuUs: (cpu.user + cpu.system) / answers.length };
}

async function latency(v: Verifier, answers: Answer[]): Promise<{ median: number; p99: number }> {
  const samples: number[] = [];
  for (const a of answers) {
    const t0 = process.hrtime.bigint();
    await v.verify(a);
    samples.push(Number(process.hrtime.bigint() - t0) / 1e3);
  }
  const s = summarize(samples);
  const sorted = [...samples].sort((x, y) => x - y);
  return { median: s.median, p99: sorted[Math.floor(0.99 * sorted.length)]! };
}

class Worker {
  private readonly replies: ((m: any) => void)[] = [];
  readonly ready: Promise<void>;
  constructor(private readonly child: ChildProcess) {
    child.on('message', (m) => this.replies.shift()?.(m));
    this.ready = new Promise((resolve, reject) => {
      this.replies.push((m) => (m.ready ? resolve() : reject(new Error(m.error))));
      child.once('exit', (code) => reject(new Error(`benchmark worker exited with ${code}`)));
    });
  }
  request(msg: object): Promise<any> {
    return new Promise((resolve, reject) => {
      this.replies.push((m) => (m.error ? reject(new Error(m.error)) : resolve(m)));
      this.child.send(msg);
    });
  }
  stop(): void { this.child.kill('SIGTERM'); }
}

async function scaling(url: string, serverKey: Uint8Array): Promise<{ one: number; two: number }> {
  const script = fileURLToPath(new URL('./cluster-worker.js', import.meta.url));
  const env = { ...process.env, EFA_REDIS_URL: url, EFA_SERVER_KEY: Buffer.from(serverKey).toString('hex') };
  const workers = [0, 1].map(() => new Worker(fork(script, [], { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })));
  try {
    await Promise.all(workers.map((w) => w.ready));
    let one = 0;
    let two = 0;
    for (let r = 0; r < 2; r++) {
      await workers[0]!.request({ op: 'prepare', n: N });
      const alone = await workers[0]!.request({ op: 'go' });
      if (alone.accepted !== N) throw new Error(`one process accepted ${alone.accepted} of ${N}`);
      one = Math.max(one, N / (alone.ms / 1000));
      await Promise.all(workers.map((w) => w.request({ op: 'prepare', n: N })));
      const both = await Promise.all(workers.map((w) => w.request({ op: 'go' })));
      if (both.some((b) => b.accepted !== N)) throw new Error('two processes did not accept every answer');
      two = Math.max(two, (2 * N) / (Math.max(...both.map((b) => b.ms)) / 1000));
    }
    return { one, two };
  } finally {
    for (const w of workers) w.stop();
  }
}

export async function benchCluster(): Promise<ClusterFigures> {
  const redis = await startRedis();
  const serverKey = new Uint8Array(randomBytes(32));
  const keys = keyMap(benchKeys());
  const stores = await openRedisStores({ url: redis.url, prefix: 'bench:' });
  const memory = new Verifier({ keys, serverKey, batchConcurrency: CONCURRENCY, maxOutstanding: 1_000_000 });
  const shared = new Verifier({ keys, serverKey, nonces: stores.nonces, revocations: stores.revocations, batchConcurrency: CONCURRENCY });
  try {
    // Warm-up of both paths (JIT, the connection, the scripts cached on the server).
    await throughput(memory, prepare(memory, 2000));
    await throughput(shared, prepare(shared, 2000));
    let mem = { perSecond: 0, cpuUs: Infinity };
    let red = { perSecond: 0, cpuUs: Infinity };
    let serverUs: number | undefined = Infinity;
    for (let r = 0; r < ROUNDS; r++) {
      const m = await throughput(memory, prepare(memory, N));
      const answers = prepare(shared, N);
      const s0 = redis.pid === undefined ? undefined : processCpu(redis.pid);
      const x = await throughput(shared, answers);
      const s1 = redis.pid === undefined ? undefined : processCpu(redis.pid);
      if (m.perSecond > mem.perSecond) mem = m;
      if (x.perSecond > red.perSecond) red = x;
      serverUs = s0 === undefined || s1 === undefined || serverUs === undefined ? undefined : Math.min(serverUs, ((s1 - s0) * 1e6) / N);
    }
    const ratio = red.perSecond / mem.perSecond;
    line('8a. verifications/s, in-memory stores (baseline)', mem.perSecond.toFixed(0));
    line('    verifications/s, Redis stores', red.perSecond.toFixed(0));
    line(`    ratio (target >= ${TARGET_RATIO})`, `${ratio.toFixed(3)} (${verdict(ratio >= TARGET_RATIO)})`);
    line('    CPU per verification: this process, memory / Redis (µs)', `${mem.cpuUs.toFixed(1)} / ${red.cpuUs.toFixed(1)}`);
    line('    CPU per verification: redis-server (µs, ±10 ms ticks)', serverUs === undefined ? 'n/a' : serverUs.toFixed(1));
    // The same comparison in CPU time, which a busy machine disturbs less than wall time.
    const cpuRatio = mem.cpuUs / (red.cpuUs + (serverUs ?? 0));
    line('    CPU ratio: memory / (Redis client + server)', cpuRatio.toFixed(3));

    const sc = await scaling(redis.url, serverKey);
    line('8b. verifications/s over Redis, one process', sc.one.toFixed(0));
    line('    verifications/s over Redis, two processes', sc.two.toFixed(0));
    line('    scaling, two processes vs one (×)', (sc.two / sc.one).toFixed(2));

    const latRedis = await latency(shared, prepare(shared, LATENCY_SAMPLES));
    const latMemory = await latency(memory, prepare(memory, LATENCY_SAMPLES));
    line('8c. one verification at a time, memory: median / p99 (µs)', `${latMemory.median.toFixed(1)} / ${latMemory.p99.toFixed(1)}`);
    line('    one verification at a time, Redis: median / p99 (µs)', `${latRedis.median.toFixed(1)} / ${latRedis.p99.toFixed(1)}`);
    line('    p99 Redis vs memory (×)', (latRedis.p99 / latMemory.p99).toFixed(1));

    // Nothing is stored per challenge, so a flood costs the same per call as the first challenge.
    for (let i = 0; i < 200_000; i++) memory.challenge();
    const flood = measure(() => { memory.challenge(); }, 1000);
    const bare = measure(() => { randomBytes(49); }, 1000);
    line('8d. challenge() after 200 000 unanswered (µs per call)', (1e6 / flood.perSecond).toFixed(2));
    line('    bare randomBytes(49) (µs per call)', (1e6 / bare.perSecond).toFixed(2));
    return {
      memoryPerSecond: mem.perSecond, redisPerSecond: red.perSecond, ratio, met: ratio >= TARGET_RATIO,
      cpuMemoryUs: mem.cpuUs, cpuRedisClientUs: red.cpuUs, cpuRedisServerUs: serverUs, cpuRatio,
      oneProcessPerSecond: sc.one, twoProcessesPerSecond: sc.two, scaling: sc.two / sc.one,
      latencyRedisUs: latRedis, latencyMemoryUs: latMemory, p99Ratio: latRedis.p99 / latMemory.p99,
      challengeUs: 1e6 / flood.perSecond, randomNonceUs: 1e6 / bare.perSecond,
    };
  } finally {
    await shared.close();
    await memory.close();
    await redis.stop();
  }
}

// `node dist/bench/cluster.js` runs this benchmark alone.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = await benchCluster();
  if (process.argv.includes('--json')) console.log(JSON.stringify(r, null, 2));
}

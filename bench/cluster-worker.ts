// One verifier process of benchmark 8 (bench/cluster.ts): a Verifier over the Redis stores at
// EFA_REDIS_URL. `prepare` makes n fresh answers (challenge + soft-chip attestation) beforehand,
// `go` verifies them all, a batch at a time, and reports the wall time and the process's CPU time.
import { keyMap, Verifier } from '../host/backend.js';
import { openRedisStores } from '../host/verifier/redis-stores.js';
import { benchDevice, benchKeys, CONCURRENCY, type Answer } from './cluster-device.js';

const url = process.env.EFA_REDIS_URL!;
const serverKey = new Uint8Array(Buffer.from(process.env.EFA_SERVER_KEY!, 'hex'));
const stores = await openRedisStores({ url, prefix: 'bench:' });
const verifier = new Verifier({ keys: keyMap(benchKeys()), serverKey, nonces: stores.nonces, revocations: stores.revocations, batchConcurrency: CONCURRENCY });
const device = benchDevice();
let answers: Answer[] = [];

process.on('message', (m: { op: 'prepare'; n: number } | { op: 'go' } | { op: 'exit' }) => {
  void (async () => {
    if (m.op === 'prepare') {
      answers = Array.from({ length: m.n }, () => { const nonce = verifier.challenge().nonce; return { nonce, response: device.attest(nonce) }; });
      return { prepared: answers.length };
    }
    if (m.op === 'go') {
      const cpu0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      const r = await verifier.verifyBatch(answers);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      const cpu = process.cpuUsage(cpu0);
      return { ms, cpuMs: (cpu.user + cpu.system) / 1000, accepted: r.filter((x) => x.ok).length };
    }
    await verifier.close();
    process.disconnect();
    return undefined;
  })().then((reply) => { if (reply) process.send!(reply); }, (err: Error) => process.send!({ error: err.message }));
});
process.send!({ ready: true });

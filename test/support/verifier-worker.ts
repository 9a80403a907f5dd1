// One verifier instance in its own process, for the cluster tests: a Verifier over the Redis stores
// at EFA_REDIS_URL, with the server key EFA_SERVER_KEY and the device keys EFA_KEYS, driven by IPC
// messages from the test. `arm` loads copies of an answer; `go` verifies them all at once, so two
// workers race each other as two instances behind a load balancer would.
import { type BatchResult, keyMap, Verifier } from '../../host/backend.js';
import { attestationFromJson, type AttestationJson } from '../../host/serialize.js';
import { openRedisStores } from '../../host/verifier/redis-stores.js';
import type { Attestation } from '../../host/requests/attest.js';
import type { VerifiedAttestation } from '../../host/verify.js';

type Msg =
  | { op: 'challenge'; deviceId?: string }
  | { op: 'verify'; attestation: AttestationJson }
  | { op: 'arm'; attestation: AttestationJson; copies: number }
  | { op: 'go' }
  | { op: 'exit' };

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

const stores = await openRedisStores({ url: env('EFA_REDIS_URL'), prefix: env('EFA_PREFIX'), commandTimeoutMs: 2000 });
const keys = keyMap((JSON.parse(env('EFA_KEYS')) as [string, string][]).map(([k, hex]) => [k, new Uint8Array(Buffer.from(hex, 'hex'))]));
const verifier = new Verifier({
  keys,
  serverKey: new Uint8Array(Buffer.from(env('EFA_SERVER_KEY'), 'hex')),
  nonces: stores.nonces,
  revocations: stores.revocations,
  batchConcurrency: 1000,
});
let armed: Attestation[] = [];

function summary(results: BatchResult<VerifiedAttestation>[]): { accepted: number; refused: Record<string, number> } {
  const refused: Record<string, number> = {};
  let accepted = 0;
  for (const r of results) {
    if (r.ok) accepted++;
    else refused[r.error.code] = (refused[r.error.code] ?? 0) + 1;
  }
  return { accepted, refused };
}

process.on('message', (m: Msg) => {
  void (async () => {
    switch (m.op) {
      case 'challenge': {
        const c = verifier.challenge(m.deviceId);
        return { nonce: Buffer.from(c.nonce).toString('hex'), expiresAt: c.expiresAt };
      }
      case 'verify': {
        try {
          return { ok: true, value: await verifier.verify(attestationFromJson(m.attestation)) };
        } catch (err) {
          const e = err as { code?: string; message?: string };
          return { ok: false, code: e.code, message: e.message };
        }
      }
      case 'arm':
        armed = Array.from({ length: m.copies }, () => attestationFromJson(m.attestation));
        return { armed: armed.length };
      case 'go':
        return summary(await verifier.verifyBatch(armed));
      case 'exit':
        await verifier.close();
        process.disconnect();
        return undefined;
    }
  })().then((reply) => { if (reply !== undefined) process.send!(reply); }, (err: Error) => { process.send!({ error: err.message }); });
});
process.send!({ ready: true, pid: process.pid });

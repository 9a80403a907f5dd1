// Runs attestations over a fault-injecting link and counts outcomes. "accepted" answers are verified
// with the key; an accepted answer that does not verify would be a bad MAC let through — the
// property under test is that this count stays zero at every fault rate.
import { Client } from '../../host/client.js';
import { DeviceError, TimeoutError, TransportError, VerificationError } from '../../host/errors.js';
import { FaultyTransport, type FaultRates } from '../../host/transport/faulty.js';
import type { Transport } from '../../host/transport/transport.js';
import { verifyAttestation } from '../../host/verify.js';

export interface TrialResult { rate: number; tries: number; verified: number; timeouts: number; badMac: number; other: number; retries: number }

export async function faultTrial(link: Transport, key: Uint8Array, rate: number, tries: number, seed: number): Promise<TrialResult> {
  const r: FaultRates = { drop: rate, flip: rate, duplicate: rate / 2, cut: rate * 20, delay: rate * 10, maxDelayMs: 30 };
  const faulty = new FaultyTransport(link, { tx: r, rx: r }, seed);
  const client = new Client(faulty, { timeoutMs: 150, retries: 4 });
  const out: TrialResult = { rate, tries, verified: 0, timeouts: 0, badMac: 0, other: 0, retries: 0 };
  for (let i = 0; i < tries; i++) {
    try {
      const att = await client.attest();
      verifyAttestation(att, { key });
      out.verified++;
    } catch (err) {
      if (err instanceof TimeoutError) out.timeouts++;
      else if (err instanceof VerificationError) out.badMac++;
      else if (err instanceof DeviceError || err instanceof TransportError) out.other++;
      else throw err;
    }
  }
  out.retries = client.session.stats.retries;
  return out;
}

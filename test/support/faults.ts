// Runs attestations over a fault-injecting link and counts outcomes. "accepted" answers are verified
// with the key; an accepted answer that does not verify would be a bad MAC let through — the
// property under test is that this count stays zero at every fault rate.
// A "per-byte fault rate r" means what it says: each byte, in each direction, is hit by some fault
// with probability r (drop, flip, duplicate, or the link cut there), so an exchange of B bytes
// gets through one try untouched with probability (1 - r)^B.
import { Client } from '../../host/client.js';
import { DeviceError, TimeoutError, TransportError, VerificationError } from '../../host/errors.js';
import { FaultyTransport, type FaultRates } from './faulty.js';
import type { Transport } from '../../host/transport/transport.js';
import { verifyAttestation } from '../../host/verify.js';

export interface TrialResult {
  rate: number;
  tries: number;
  verified: number;
  timeouts: number;
  badMac: number;
  other: number;
  retries: number;
  /** Frames the host sent: tries + retries. */
  sent: number;
  ms: number;
}

export interface TrialOptions {
  timeoutMs?: number;
  retries?: number;
  deviceId?: Uint8Array;
}

/** Bytes of one ATTEST exchange with a 32-byte nonce: request frame 48 + response frame 113. */
export const ATTEST_EXCHANGE_BYTES = 48 + 113;

/** The per-byte fault mix used by every campaign: shares of `rate` summing to `rate`. */
export function faultMix(rate: number): FaultRates {
  return { drop: rate * 0.35, flip: rate * 0.35, duplicate: rate * 0.2, cut: rate * 0.1, delay: Math.min(1, rate * 10), maxDelayMs: 30 };
}

/** What the physics allows: P(one try is untouched), and P(some try of `tries` is). */
export function expectedSuccess(rate: number, tries: number, bytes = ATTEST_EXCHANGE_BYTES): { perTry: number; perAttest: number } {
  const perTry = (1 - rate) ** bytes;
  return { perTry, perAttest: 1 - (1 - perTry) ** tries };
}

export async function faultTrial(link: Transport, key: Uint8Array, rate: number, tries: number, seed: number, opts: TrialOptions = {}): Promise<TrialResult> {
  const r = faultMix(rate);
  const faulty = new FaultyTransport(link, { tx: r, rx: r }, seed);
  const client = new Client(faulty, { timeoutMs: opts.timeoutMs ?? 150, retries: opts.retries ?? 4 });
  const out: TrialResult = { rate, tries, verified: 0, timeouts: 0, badMac: 0, other: 0, retries: 0, sent: 0, ms: 0 };
  const started = Date.now();
  for (let i = 0; i < tries; i++) {
    try {
      const att = await client.attest();
      verifyAttestation(att, { key, deviceId: opts.deviceId });
      out.verified++;
    } catch (err) {
      if (err instanceof TimeoutError) out.timeouts++;
      else if (err instanceof VerificationError) out.badMac++;
      else if (err instanceof DeviceError || err instanceof TransportError) out.other++;
      else throw err;
    }
  }
  out.ms = Date.now() - started;
  out.retries = client.session.stats.retries;
  out.sent = out.tries + out.retries;
  return out;
}

export function describeTrial(r: TrialResult): string {
  const e = expectedSuccess(r.rate, 1 + (r.sent - r.tries) / Math.max(1, r.tries));
  return `rate ${r.rate}: ${r.verified}/${r.tries} verified, ${r.timeouts} timeouts, ${r.retries} retries, ${r.badMac} bad MACs`
    + ` (${(r.ms / 1000).toFixed(1)} s; untouched try ${(100 * e.perTry).toFixed(1)}% by (1-r)^${ATTEST_EXCHANGE_BYTES})`;
}

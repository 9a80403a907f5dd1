// ATTEST (docs/protocol.md §4.3): challenge the device with a fresh random nonce. The result carries
// the nonce the host sent, so verification (verify.ts) checks the answer against what was asked.
import { randomFillSync } from 'node:crypto';
import { abytes, type AttestResponse, keySlot, NONCE_MAX, NONCE_MIN } from '../../protocol/index.js';
import { ProtocolError } from '../errors.js';
import type { Session } from '../session.js';

export interface AttestOptions {
  /** eFuse key slot 0..5 (BLOCK_KEY0..5); default 0. */
  slot?: number;
  /** The challenge; default 32 fresh random bytes. Reusing a nonce defeats replay protection. */
  nonce?: Uint8Array;
}

export interface Attestation {
  nonce: Uint8Array;
  response: AttestResponse;
}

export const DEFAULT_NONCE_SIZE = 32;

function isZero(b: Uint8Array): boolean {
  let d = 0;
  for (let i = 0; i < b.length; i++) d |= b[i]!;
  return d === 0;
}

export async function attest(session: Session, opts: AttestOptions = {}): Promise<Attestation> {
  const slot = keySlot(opts.slot ?? 0);
  const nonce = opts.nonce === undefined ? randomFillSync(new Uint8Array(DEFAULT_NONCE_SIZE)) : abytes(opts.nonce, 'nonce', NONCE_MIN, NONCE_MAX);
  const res = session.expect(await session.request({ type: 'attest', slot, nonce }), 'attest');
  if (res.attestation.slot !== slot) throw new ProtocolError(`device answered for slot ${res.attestation.slot}, asked ${slot}`);
  if (isZero(res.attestation.deviceNonce)) {
    throw new ProtocolError('device nonce is all zeros: its random source is not working', 'PROTOCOL_ENTROPY');
  }
  return { nonce, response: res.attestation };
}

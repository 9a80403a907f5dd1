// The default challenge step of provisioning: ask the device for an attestation of a fresh nonce with
// the key slot just burned, and verify it with the escrowed key (verify.ts, default policy: the block
// must report HMAC_UP and read protection); a token block is proven with a short-lived token. The
// device is whatever the target's EfuseController opens (host/efuse/controller.ts): the port itself,
// or the emulator on a virtual chip's image and silicon, closed again afterwards.
import { Client } from '../client.js';
import type { DeviceLink } from '../efuse/controller.js';
import { DeviceError } from '../errors.js';
import { verifyAttestation, verifyToken } from '../verify.js';
import type { ChallengeFn, ChallengeTarget } from './sequence.js';

export interface ChallengeOptions {
  /** Serial baud rate for ports (default: the link's, else the client's). */
  baud?: number;
  /** Time to wait for each answer (default 2000 ms; the emulator and a freshly reset board can be slow). */
  timeoutMs?: number;
  retries?: number;
}

/**
 * Asks for an attestation with the block just burned and verifies it. A block of the token role
 * (the device answers KEY_ROLE: by default BLOCK_KEY1) proves its key with a short-lived token instead.
 */
async function attestAndVerify(link: DeviceLink, t: ChallengeTarget, key: Uint8Array, opts: ChallengeOptions): Promise<void> {
  const session = { timeoutMs: opts.timeoutMs ?? 2000, retries: opts.retries ?? 2 };
  const baud = link.baud ?? opts.baud;
  const client = link.transport ? new Client(link.transport, session) : await Client.open(link.path, { ...(baud ? { baud } : {}), ...session });
  try {
    try {
      const att = await client.attest({ slot: t.slot });
      verifyAttestation(att, { key, deviceId: t.deviceId, slot: t.slot });
    } catch (err) {
      if (!(err instanceof DeviceError && err.statusName === 'KEY_ROLE')) throw err;
      const resource = `efuse-attest/provisioning/devices/${t.deviceId}`;
      const expiry = Math.floor(Date.now() / 1000) + 300;
      verifyToken(await client.token({ resource, expiry, slot: t.slot }), { key, resource, deviceId: t.deviceId });
    }
  } finally {
    await client.close();
  }
}

/** The challenge used by `efuse-attest provision` unless told otherwise. */
export function defaultChallenge(opts: ChallengeOptions = {}): ChallengeFn {
  return async (t, key) => {
    const link = await t.efuse.openDevice();
    try {
      await attestAndVerify(link, t, key, opts);
    } finally {
      await link.close();
    }
  };
}

// The default challenge step of provisioning: ask the device for an attestation of a fresh nonce with
// the key slot just burned, and verify it with the escrowed key (verify.ts, default policy: the block
// must report HMAC_UP and read protection); a token block is proven with a short-lived token. A serial port is opened as is; a virtual chip is run in
// the emulator (host/emulator.ts) on its image and silicon side file, attested over the emulator's
// pseudo-terminal, and stopped.
import { Client } from '../client.js';
import { DeviceError, EfuseAttestError } from '../errors.js';
import { verifyAttestation, verifyToken } from '../verify.js';
import type { ChallengeFn, ChallengeTarget } from './sequence.js';

export interface ChallengeOptions {
  /** Serial baud rate for ports (default: the client's). */
  baud?: number;
  /** Time to wait for each answer (default 2000 ms; the emulator and a freshly reset board can be slow). */
  timeoutMs?: number;
  retries?: number;
}

interface EmulatorHandle {
  path?: string;
  port?: string;
  ptyPath?: string;
  stop?: () => Promise<void> | void;
  close?: () => Promise<void> | void;
}
type StartEmulator = (opts: { chip: string; efuse: string; silicon?: string }) => Promise<EmulatorHandle>;

/** host/emulator.ts, loaded only when a virtual chip is challenged. */
async function loadEmulator(): Promise<StartEmulator> {
  let mod: { startEmulator?: unknown };
  try {
    mod = (await import(new URL('../emulator.js', import.meta.url).href)) as typeof mod;
  } catch (err) {
    throw new EfuseAttestError(`the emulator is not available, so a virtual chip cannot be challenged (${(err as Error).message}); ` +
      'build it with `npm run build`, or provision with --no-challenge', 'NO_EMULATOR', 1, { cause: err });
  }
  if (typeof mod.startEmulator !== 'function') throw new EfuseAttestError('host/emulator.js has no startEmulator()', 'NO_EMULATOR');
  return mod.startEmulator as StartEmulator;
}

/**
 * Asks for an attestation with the block just burned and verifies it. A block of the token role
 * (the device answers KEY_ROLE: by default BLOCK_KEY1) proves its key with a short-lived token instead.
 */
async function attestAndVerify(path: string, t: ChallengeTarget, key: Uint8Array, opts: ChallengeOptions): Promise<void> {
  const client = await Client.open(path, {
    ...(opts.baud ? { baud: opts.baud } : {}), timeoutMs: opts.timeoutMs ?? 2000, retries: opts.retries ?? 2,
  });
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
    if (t.target.kind === 'port') {
      await attestAndVerify(t.target.port, t, key, { ...opts, ...(t.target.baud ? { baud: t.target.baud } : {}) });
      return;
    }
    const startEmulator = await loadEmulator();
    const emu = await startEmulator({ chip: t.chip, efuse: t.target.image });
    try {
      const path = emu.path ?? emu.ptyPath ?? emu.port;
      if (typeof path !== 'string') throw new EfuseAttestError('the emulator did not report its pseudo-terminal', 'NO_EMULATOR');
      await attestAndVerify(path, t, key, opts);
    } finally {
      await (emu.stop ?? emu.close)?.call(emu);
    }
  };
}

// Devices to run link trials against, each behind the same small interface: a fresh transport to
// it, a reboot, and how long one answer takes on that link. The in-memory device (the firmware's
// logic in-process), the emulator per chip (the firmware on the real XS engine behind a pty, opened
// with the real serialport), and a board when EFUSE_ATTEST_PORT and EFUSE_ATTEST_KEY name one
// (BLOCK_KEY0 holding that key). A board cannot be reset from here: it has no reset(), and the
// reset trials skip it.
import { readFileSync } from 'node:fs';
import { Client } from '../../host/client.js';
import { startEmulator } from '../../host/emulator.js';
import { SerialTransport } from '../../host/transport/serial.js';
import type { Transport } from '../../host/transport/transport.js';
import { toHex } from '../../protocol/index.js';
import { makeChip } from './chips.js';
import { TEST_KEY } from './keys.js';
import { memoryLink, type MemoryLink } from './memory-link.js';

export interface LinkTarget {
  name: string;
  /** The key in BLOCK_KEY0. */
  key: Uint8Array;
  /** Canonical device id (12 hex digits). */
  deviceId: string;
  /** A per-try timeout that covers one answer on this link with room to spare, ms. */
  answerMs: number;
  /** A serial port the CLI can open, where the device has one. */
  port?: string;
  /** A fresh transport to the device; closed by release() or close(). */
  link(): Promise<Transport>;
  /** Closes every transport link() gave, so the next test can open the port. */
  release(): Promise<void>;
  /** Reboots the device: its state is lost and the ROM prints its boot text. Absent on a board. */
  reset?(): Promise<void>;
  close(): Promise<void>;
}

const MEMORY_MAC = Uint8Array.of(0x7c, 0xdf, 0xa1, 0x00, 0x00, 0x02);

export async function memoryLinkTarget(): Promise<LinkTarget> {
  let current: MemoryLink | undefined;
  const target: LinkTarget = {
    name: 'in-memory device',
    key: TEST_KEY,
    deviceId: toHex(MEMORY_MAC),
    answerMs: 100,
    async link() {
      current = memoryLink({ chip: { mac: MEMORY_MAC, keys: { 0: { key: TEST_KEY }, 1: { key: TEST_KEY } } } });
      return current.host;
    },
    async reset() { current?.reset(); },
    async release() { await current?.host.close(); current = undefined; },
    close: () => target.release(),
  };
  return target;
}

export async function emulatorLinkTarget(chip: string): Promise<LinkTarget> {
  const made = await makeChip(chip, { BLOCK_KEY0: [TEST_KEY, 'HMAC_UP'], BLOCK_KEY1: [TEST_KEY, 'HMAC_UP'] });
  const emu = await startEmulator({ chip, efuse: made.image });
  const open: SerialTransport[] = [];
  const release = async () => { for (const t of open.splice(0)) await t.close(); };
  return {
    name: `emulator ${chip} over a pty`,
    key: TEST_KEY,
    deviceId: made.deviceId,
    answerMs: 200,
    port: emu.path,
    async link() {
      // Another program probing serial ports may hold the pty's lock for a moment: try again.
      for (let i = 0; ; i++) {
        try {
          const t = await SerialTransport.open(emu.path);
          open.push(t);
          return t;
        } catch (e) {
          if (i === 20 || !/Cannot lock port/.test(String(e))) throw e;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    },
    reset: () => emu.reset(),
    release,
    async close() {
      await release();
      const s = await emu.stop();
      if (s && s.callbackErrors !== 0) throw new Error(`${s.callbackErrors} exceptions escaped the firmware`);
    },
  };
}

/** Every link target this machine has: in-memory, the emulator for each chip given, a board if named. */
export function linkTargets(chips: string[]): [string, () => Promise<LinkTarget>][] {
  const out: [string, () => Promise<LinkTarget>][] = [['in-memory device', memoryLinkTarget]];
  for (const chip of chips) out.push([`emulator ${chip} over a pty`, () => emulatorLinkTarget(chip)]);
  const port = process.env.EFUSE_ATTEST_PORT;
  const keyFile = process.env.EFUSE_ATTEST_KEY;
  if (port && keyFile) {
    out.push([`board ${port}`, async () => {
      const open: SerialTransport[] = [];
      const probe = await Client.open(port, { timeoutMs: 2000 });
      const deviceId = toHex((await probe.info()).deviceId);
      await probe.close();
      return {
        name: `board ${port}`, key: new Uint8Array(readFileSync(keyFile)), deviceId, answerMs: 500, port,
        async link() { const t = await SerialTransport.open(port); open.push(t); return t; },
        release: async () => { for (const t of open.splice(0)) await t.close(); },
        close: async () => { for (const t of open.splice(0)) await t.close(); },
      };
    }]);
  }
  return out;
}

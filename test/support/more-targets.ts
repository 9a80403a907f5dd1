// Targets beyond in-memory: the emulator (the firmware's JS and native C on the real XS engine,
// behind a pseudo-terminal, opened with the real serialport), and a real board when
// EFUSE_ATTEST_PORT is set (with EFUSE_ATTEST_KEY, the escrowed key file; slot 0 HMAC_UP and slot 1
// HMAC_DOWN_ALL, as the suite expects).
import { readFileSync } from 'node:fs';
import { Client } from '../../host/client.js';
import { startEmulator } from '../../host/emulator.js';
import { fromHex } from '../../protocol/index.js';
import { makeChip } from './chips.js';
import { TEST_KEY, type Target } from './targets.js';

export async function emulatorTarget(chip = 'esp32s3'): Promise<Target & { emulator: Awaited<ReturnType<typeof startEmulator>> }> {
  const made = await makeChip(chip, { BLOCK_KEY0: [TEST_KEY, 'HMAC_UP'], BLOCK_KEY1: [TEST_KEY, 'HMAC_DOWN_ALL'] });
  const emulator = await startEmulator({ chip, efuse: made.image });
  const client = await Client.open(emulator.path, { timeoutMs: 1000, retries: 2 });
  return {
    name: `emulator ${chip}`,
    client,
    key: TEST_KEY,
    deviceId: fromHex(made.deviceId),
    emulator,
    async close() { await client.close(); await emulator.stop(); },
  };
}

export function extraTargets(): [string, () => Promise<Target>][] {
  const out: [string, () => Promise<Target>][] = [
    ['emulator esp32s3 (XS + native C over a pty)', () => emulatorTarget('esp32s3')],
    ['emulator esp32c3 (XS + native C over a pty)', () => emulatorTarget('esp32c3')],
  ];
  const port = process.env.EFUSE_ATTEST_PORT;
  const keyFile = process.env.EFUSE_ATTEST_KEY;
  if (port && keyFile) {
    out.push([`board ${port}`, async () => {
      const client = await Client.open(port, { timeoutMs: 2000 });
      const info = await client.info();
      return { name: port, client, key: new Uint8Array(readFileSync(keyFile)), deviceId: info.deviceId, close: () => client.close() };
    }]);
  }
  return out;
}

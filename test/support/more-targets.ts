// Targets beyond in-memory: the emulator (the firmware's JS and native C on the real XS engine,
// behind a pseudo-terminal, opened with the real serialport), and a real board when
// EFUSE_ATTEST_PORT is set (with EFUSE_ATTEST_KEY and EFUSE_ATTEST_TOKEN_KEY, the escrowed key files
// of BLOCK_KEY0 and BLOCK_KEY1, and BLOCK_KEY2 burned HMAC_DOWN_ALL, as the suite expects).
import { readFileSync } from 'node:fs';
import { Client } from '../../host/client.js';
import { startEmulator } from '../../host/emulator.js';
import { fromHex } from '../../protocol/index.js';
import { makeChip } from './chips.js';
import { TEST_KEY, TEST_TOKEN_KEY, type Target } from './targets.js';

export async function emulatorTarget(chip = 'esp32s3'): Promise<Target & { emulator: Awaited<ReturnType<typeof startEmulator>> }> {
  const made = await makeChip(chip, { BLOCK_KEY0: [TEST_KEY, 'HMAC_UP'], BLOCK_KEY1: [TEST_TOKEN_KEY, 'HMAC_UP'], BLOCK_KEY2: [TEST_KEY, 'HMAC_DOWN_ALL'] });
  const emulator = await startEmulator({ chip, efuse: made.image });
  const client = await Client.open(emulator.path, { timeoutMs: 1000, retries: 2 });
  return {
    name: `emulator ${chip}`,
    client,
    key: TEST_KEY,
    tokenKey: TEST_TOKEN_KEY,
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
  const tokenKeyFile = process.env.EFUSE_ATTEST_TOKEN_KEY;
  if (port && keyFile && tokenKeyFile) {
    out.push([`board ${port}`, async () => {
      const client = await Client.open(port, { timeoutMs: 2000 });
      const info = await client.info();
      return { name: port, client, key: new Uint8Array(readFileSync(keyFile)), tokenKey: new Uint8Array(readFileSync(tokenKeyFile)), deviceId: info.deviceId, close: () => client.close() };
    }]);
  }
  return out;
}

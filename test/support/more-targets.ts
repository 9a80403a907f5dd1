// Targets beyond in-memory: a real board when EFUSE_ATTEST_PORT is set (with EFUSE_ATTEST_KEY, the
// escrowed key file, slot 0 HMAC_UP and slot 1 HMAC_DOWN_ALL as the suite expects).
import { readFileSync } from 'node:fs';
import { Client } from '../../host/client.js';
import type { Target } from './targets.js';

export function extraTargets(): [string, () => Promise<Target>][] {
  const out: [string, () => Promise<Target>][] = [];
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

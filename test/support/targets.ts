// Conformance targets: each gives a Client connected to a device whose eFuse key slot 0 holds `key`
// (the attestation key) and slot 1 `tokenKey` (the cloud token key), both HMAC_UP and read-protected,
// and slot 2 purpose HMAC_DOWN_ALL. The same suite
// (conformance.test.ts) runs against every target: in-memory (service in-process), the emulator
// over a pseudo-terminal, and a real board when EFUSE_ATTEST_PORT names its port.
import { Client } from '../../host/client.js';
import { TEST_KEY, TEST_TOKEN_KEY } from './keys.js';
import { memoryLink } from './memory-link.js';

export interface Target {
  name: string;
  client: Client;
  key: Uint8Array;
  tokenKey: Uint8Array;
  deviceId: Uint8Array;
  close(): Promise<void>;
}

export { TEST_KEY, TEST_TOKEN_KEY } from './keys.js';

export async function memoryTarget(): Promise<Target> {
  const deviceId = Uint8Array.of(0x7c, 0xdf, 0xa1, 0x00, 0x00, 0x01);
  const { host } = memoryLink({ chip: { mac: deviceId, keys: { 0: { key: TEST_KEY }, 1: { key: TEST_TOKEN_KEY }, 2: { key: TEST_KEY, purpose: 5 } } } });
  const client = new Client(host, { timeoutMs: 500, retries: 1 });
  return { name: 'memory', client, key: TEST_KEY, tokenKey: TEST_TOKEN_KEY, deviceId, close: () => client.close() };
}

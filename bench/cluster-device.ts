// The device and keys benchmark 8 verifies: one soft-chip ESP32-S3 (the TypeScript device over a
// software HMAC), shared by the benchmark and its worker processes.
import { createDevice } from '../device/src/device.js';
import type { AttestResponse } from '../protocol/index.js';
import { softChip } from '../test/support/soft-chip.js';

export const DEVICE_ID = '7cdfa1b0c0de';
const KEY = Uint8Array.from({ length: 32 }, (_, i) => 0x80 + i);
/** Answers verified at once: enough to keep a Redis connection's pipeline full. */
export const CONCURRENCY = 256;

export interface Answer { nonce: Uint8Array; response: AttestResponse }

export function benchDevice(): ReturnType<typeof createDevice> {
  return createDevice(softChip({ mac: Uint8Array.from(Buffer.from(DEVICE_ID, 'hex')), keys: { 0: { key: KEY }, 1: { key: KEY } } }));
}

export function benchKeys(): [string, Uint8Array][] {
  return [[`${DEVICE_ID}/0`, KEY]];
}

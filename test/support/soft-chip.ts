// A software chip for the in-memory conformance target: the device service and device API run
// in-process in Node, with HMAC from node:crypto and eFuse state from a plain object. This stands in
// for silicon only where the service logic is under test; the emulator target runs the same service
// on the real XS engine with the real native C.
import { createHmac, randomBytes } from 'node:crypto';
import type { Hardware, KeyBlockState } from '../../device/src/hardware.js';
import {
  buildTranscript, chipCode, DEVICE_NONCE_SIZE, hasHmacPeripheral, PURPOSE_HMAC_UP, purposeName, sasStringToSign,
} from '../../protocol/index.js';

export interface SoftChipOptions {
  model?: string;
  mac?: Uint8Array;
  keys?: { [slot: number]: { key: Uint8Array; purpose?: number; readProtected?: boolean; writeProtected?: boolean } };
  secureBoot?: boolean;
  flashEncryption?: boolean;
  /** Key roles as bit masks over the slots, as efuse.c's defines (default: slot 1 signs tokens, every other slot attests). */
  roles?: { attest: number; token: number };
}

export function softChip(opts: SoftChipOptions = {}): Hardware {
  const model = opts.model ?? 'esp32s3';
  const hmac = hasHmacPeripheral(model);
  const block = (slot: number): KeyBlockState => {
    const k = opts.keys?.[slot];
    return k
      ? { purpose: k.purpose ?? PURPOSE_HMAC_UP, readProtected: k.readProtected ?? true, writeProtected: k.writeProtected ?? false, unused: false }
      : { purpose: 0, readProtected: false, writeProtected: false, unused: true };
  };
  const deviceId = opts.mac ?? Uint8Array.of(0x7c, 0xdf, 0xa1, 0x00, 0x00, 0x01);
  const firmware = { id: new Uint8Array(32).fill(0xab), version: '0.1.0' };
  const roles = opts.roles ?? { attest: 0x3d, token: 0x02 };
  // As efuse.c: the key is used only on a transcript or string-to-sign built here from this chip's
  // state, and only in its role: a block without an HMAC_UP key first, then one of the other role.
  const use = (slot: number, mask: number, what: string, message: () => Uint8Array): Uint8Array => {
    if (!hmac) throw new Error(`no HMAC peripheral on ${model}`);
    if (!Number.isInteger(slot) || slot < 0 || slot > 5) throw new Error('ESP_ERR_INVALID_ARG: key slot');
    const b = block(slot);
    if (b.purpose !== PURPOSE_HMAC_UP) throw new Error(`ESP_FAIL: key block BLOCK_KEY${slot} purpose is ${purposeName(b.purpose)} (${b.purpose}), not HMAC_UP (8)`);
    if (!((mask >> slot) & 1)) {
      const hex = (m: number) => `0x${m.toString(16).padStart(2, '0')}`;
      throw new Error(`KEY_ROLE: BLOCK_KEY${slot} is not ${what} (attestation blocks ${hex(roles.attest)}, token blocks ${hex(roles.token)})`);
    }
    return new Uint8Array(createHmac('sha256', opts.keys![slot].key).update(message()).digest());
  };
  return {
    attest(slot, hostNonce) {
      const b = block(slot);
      const fields = {
        chip: chipCode(model), revision: 2, deviceId, hmac, secureBoot: opts.secureBoot ?? false,
        flashEncryption: opts.flashEncryption ?? false, firmwareId: firmware.id, firmwareVersion: firmware.version,
        slot, purpose: b.purpose, readProtected: b.readProtected, writeProtected: b.writeProtected,
        deviceNonce: new Uint8Array(randomBytes(DEVICE_NONCE_SIZE)),
      };
      return { ...fields, mac: use(slot, roles.attest, 'an attestation key', () => buildTranscript(fields, hostNonce)) };
    },
    token: (slot, resource, expiry) => use(slot, roles.token, 'a token key', () => sasStringToSign(resource, expiry)),
    mac: () => deviceId,
    chip: () => ({ model, revision: 2, hmac, secureBoot: opts.secureBoot ?? false, flashEncryption: opts.flashEncryption ?? false }),
    keyBlock: block,
    firmware: () => firmware,
  };
}

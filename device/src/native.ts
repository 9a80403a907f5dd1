// The Hardware of a real board: the native "efuse" module (device/native/efuse), whose C wraps
// esp_hmac_calculate and the eFuse reads, and builds what the key MACs itself. The emulator links the same C against its simulated
// ESP-IDF, so this file runs unchanged there.
import * as efuse from "efuse";
import type { Hardware } from './hardware.js';

export const nativeHardware: Hardware = Object.freeze({
  attest: (slot: number, hostNonce: Uint8Array) => {
    const a = efuse.attest(slot, hostNonce);
    return {
      chip: a.chip, revision: a.revision, deviceId: new Uint8Array(a.deviceId), hmac: a.hmac, secureBoot: a.secureBoot,
      flashEncryption: a.flashEncryption, firmwareId: new Uint8Array(a.firmwareId), firmwareVersion: a.firmwareVersion,
      slot: a.slot, purpose: a.purpose, readProtected: a.readProtected, writeProtected: a.writeProtected,
      deviceNonce: new Uint8Array(a.deviceNonce), mac: new Uint8Array(a.mac),
    };
  },
  token: (slot: number, resource: string, expiry: number) => new Uint8Array(efuse.token(slot, resource, expiry)),
  mac: () => new Uint8Array(efuse.mac()),
  chip: () => efuse.chip(),
  keyBlock: (slot: number) => efuse.keyBlock(slot),
  firmware: () => {
    const f = efuse.firmware();
    return { id: new Uint8Array(f.id), version: f.version };
  },
});

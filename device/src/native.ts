// The Hardware of a real board: the native "efuse" module (device/native/efuse), whose C wraps
// esp_hmac_calculate and the eFuse reads. The emulator links the same C against its simulated
// ESP-IDF, so this file runs unchanged there.
import * as efuse from "efuse";
import type { Hardware } from './hardware.js';

export const nativeHardware: Hardware = Object.freeze({
  hmac: (slot: number, message: Uint8Array) => new Uint8Array(efuse.hmac(slot, message)),
  mac: () => new Uint8Array(efuse.mac()),
  chip: () => efuse.chip(),
  keyBlock: (slot: number) => efuse.keyBlock(slot),
  random: (count: number) => new Uint8Array(efuse.random(count)),
  firmware: () => {
    const f = efuse.firmware();
    return { id: new Uint8Array(f.id), version: f.version };
  },
});

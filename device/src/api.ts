// The module firmware developers import to use the device's identity from TypeScript:
//   import { attest, token, deviceInfo } from "efuse-attest";
//   const sas = token("myhub.azure-devices.net/devices/dev1", Math.floor(Date.now() / 1000) + 3600);
// Failures throw DeviceFault with a protocol status (docs/protocol.md §6) and the esp_err_t.
// The manifest names this module "efuse-attest"; a module's relative imports resolve against its
// name, so it imports the firmware's other modules by their manifest names (device/tsconfig.json
// maps them to their sources for the compiler).
import type { AttestResponse, DeviceInfo } from 'protocol/index';
import { createDevice, type DeviceApi } from 'device/src/device';
import { nativeHardware } from 'device/src/native';

export { DeviceFault } from 'device/src/device';

let device: DeviceApi | undefined;
function get(): DeviceApi {
  return device ?? (device = createDevice(nativeHardware));
}

/** Attests to `hostNonce` (16..64 bytes) with key slot `slot` (BLOCK_KEY0..5). */
export function attest(hostNonce: Uint8Array, slot = 0): AttestResponse {
  return get().attest(hostNonce, slot);
}

/** An Azure-style SAS token for `resource`, valid until `expiry` (seconds since the epoch). */
export function token(resource: string, expiry: number, opts?: { slot?: number; keyName?: string }): string {
  return get().token(resource, expiry, opts);
}

export function deviceInfo(): DeviceInfo {
  return get().deviceInfo();
}

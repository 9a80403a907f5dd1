// How a firmware developer uses the device's identity from their own module: the import names the
// module "efuse-attest" as the manifest maps it (manifests/firmware.json). Type-checked by the tests
// against device/src/api.ts (device/examples/tsconfig.json); add the module to your own manifest to
// run it.
import { attest, DeviceFault, deviceInfo, token } from 'efuse-attest';

/** A SAS token for this device's IoT Hub identity, valid for an hour. */
export function hubToken(hub: string, now: number): string | undefined {
  const info = deviceInfo();
  const id = Array.from(info.deviceId, (b) => b.toString(16).padStart(2, '0')).join('');
  try {
    return token(`${hub}/devices/${id}`, Math.floor(now / 1000) + 3600);
  } catch (e) {
    if (e instanceof DeviceFault) return undefined; // no token key burned: KEY_PURPOSE or KEY_ROLE
    throw e;
  }
}

/** Answers a challenge from a verifier with the attestation key (BLOCK_KEY0). */
export function answer(challenge: Uint8Array): Uint8Array {
  return attest(challenge).mac;
}

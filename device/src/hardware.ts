// The hardware the attestation service needs, as an interface: on a board (and in the emulator) it
// is the native "efuse" module (native.ts); in-process tests plug in a software chip. The service is
// written against this interface only (STYLE.md §6).
import type { AttestResponse } from '../../protocol/index.js';

export interface ChipState {
  /** "esp32s3", "esp32c3", … */
  model: string;
  /** major * 100 + minor */
  revision: number;
  /** The chip has an HMAC peripheral. */
  hmac: boolean;
  secureBoot: boolean;
  flashEncryption: boolean;
}

export interface KeyBlockState {
  purpose: number;
  readProtected: boolean;
  writeProtected: boolean;
  unused: boolean;
}

export interface FirmwareState {
  /** 32-byte firmware id (the app ELF SHA-256). */
  id: Uint8Array;
  version: string;
}

/**
 * The hardware. The key is used only through attest and token, which build what the key MACs from
 * state the hardware reads itself (docs/protocol.md §5, §7): no caller can have it MAC chosen bytes.
 * Both throw an Error whose message starts with the esp_err_t name ("ESP_FAIL: …"), or "no HMAC
 * peripheral on <chip>".
 */
export interface Hardware {
  /** The attestation for a host nonce (16..64 bytes) with BLOCK_KEY<slot>. */
  attest(slot: number, hostNonce: Uint8Array): AttestResponse;
  /** The SAS signature (32 bytes) over the string-to-sign of resource and expiry. */
  token(slot: number, resource: string, expiry: number): Uint8Array;
  /** Factory MAC, 6 bytes: the device id. */
  mac(): Uint8Array;
  chip(): ChipState;
  keyBlock(slot: number): KeyBlockState;
  firmware(): FirmwareState;
}

// The hardware the attestation service needs, as an interface: on a board (and in the emulator) it
// is the native "efuse" module (native.ts); in-process tests plug in a software chip. The service is
// written against this interface only (STYLE.md §6).

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

export interface Hardware {
  /**
   * HMAC-SHA256 with eFuse key block BLOCK_KEY<slot> (esp_hmac_calculate). Throws an Error whose
   * message starts with the esp_err_t name ("ESP_FAIL: …"), or "no HMAC peripheral on <chip>".
   */
  hmac(slot: number, message: Uint8Array): Uint8Array;
  /** Factory MAC, 6 bytes: the device id. */
  mac(): Uint8Array;
  chip(): ChipState;
  keyBlock(slot: number): KeyBlockState;
  random(count: number): Uint8Array;
  firmware(): FirmwareState;
}

// The TypeScript side of the native "efuse" module: the contract between the firmware's TypeScript
// and efuse.c (declared for XS in efuse.js). Errors are described in docs/native.md: TypeError or
// RangeError for a bad argument (the message names it), otherwise an Error whose message starts with
// the esp_err_t name ("ESP_FAIL: …") or reads "no HMAC peripheral on <chip>".
declare module "efuse" {
  /** Bytes the C side accepts: an ArrayBuffer or any view of one (Uint8Array, DataView, …). */
  type Bytes = ArrayBuffer | ArrayBufferView;

  /** What esp_chip_info(), esp_secure_boot_enabled() and esp_flash_encryption_enabled() report. */
  interface Chip {
    /** "esp32s3", "esp32c3", … ("unknown" for a model the module does not name). */
    readonly model: string;
    /** Wafer version, major * 100 + minor. */
    readonly revision: number;
    /** The chip has an HMAC peripheral (false on the original ESP32 and the C2). */
    readonly hmac: boolean;
    readonly secureBoot: boolean;
    readonly flashEncryption: boolean;
  }

  /** An eFuse key block BLOCK_KEY0..5 (esp_efuse_get_key_purpose, _get_key_dis_read, …). */
  interface KeyBlock {
    /** esp_efuse_purpose_t: 8 is HMAC_UP. */
    readonly purpose: number;
    readonly readProtected: boolean;
    readonly writeProtected: boolean;
    readonly unused: boolean;
  }

  /** From esp_app_get_description(). */
  interface Firmware {
    /** 32 bytes: SHA-256 of the app ELF. */
    readonly id: ArrayBuffer;
    readonly version: string;
    readonly project: string;
  }

  /** An attestation (docs/protocol.md §5): every field but the host nonce read by the C itself. */
  interface Attestation {
    /** esp_chip_model_t, the protocol's chip code. */
    readonly chip: number;
    readonly revision: number;
    /** Factory MAC, 6 bytes. */
    readonly deviceId: ArrayBuffer;
    readonly hmac: boolean;
    readonly secureBoot: boolean;
    readonly flashEncryption: boolean;
    /** 32 bytes: the app's ELF SHA-256. */
    readonly firmwareId: ArrayBuffer;
    readonly firmwareVersion: string;
    readonly slot: number;
    readonly purpose: number;
    readonly readProtected: boolean;
    readonly writeProtected: boolean;
    /** 16 fresh random bytes. */
    readonly deviceNonce: ArrayBuffer;
    /** HMAC-SHA256 of the transcript with BLOCK_KEY<slot>, by the HMAC peripheral. */
    readonly mac: ArrayBuffer;
  }

  /**
   * The attestation of the device's state for a host nonce (16..64 bytes) with key block
   * BLOCK_KEY<slot> (0..5). The native C builds the transcript from state it reads itself; there is
   * no way to have the key MAC other bytes.
   */
  export function attest(slot: number, hostNonce: Bytes): Attestation;
  /**
   * The SAS signature (docs/protocol.md §7) with BLOCK_KEY<slot> over the string-to-sign the C builds:
   * the percent-encoded resource (1..256 UTF-8 bytes, no control characters), "\n", expiry
   * (1..4294967295). Returns 32 bytes.
   */
  export function token(slot: number, resource: string, expiry: number): ArrayBuffer;
  /** Factory MAC, 6 bytes (esp_efuse_mac_get_default). */
  export function mac(): ArrayBuffer;
  export function chip(): Chip;
  /** slot: 0..5. Throws "ESP_ERR_NOT_SUPPORTED: …" on chips without eFuse key purposes. */
  export function keyBlock(slot: number): KeyBlock;
  /** count: 1..256 random bytes (esp_fill_random). */
  export function random(count: number): ArrayBuffer;
  export function firmware(): Firmware;
}

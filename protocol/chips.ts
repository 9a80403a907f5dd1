// The chip table: every fact this project keeps about an ESP32-family chip, stated once. The host
// library, the CLI's usage texts, the emulator's build (scripts/gen-chips.ts writes its C chip table and
// its list of builds from here; emulator/idf/tools/gen_chips.py writes the eFuse layouts of these chips)
// and the tests read it. The device's native C reads the same facts from
// ESP-IDF's own headers at build time; test/chips.test.ts checks that the two agree, and checks this
// table against espefuse's chip definitions and the firmware's manifests.
//
// requireChip is the one place a chip is refused: one error type, one message naming the chip and the
// chips that would do.

/** eFuse key purposes (esp_efuse_purpose_t) as the ESP32-S2 and -S3 number them; names by value. */
export const PURPOSES: readonly string[] = Object.freeze([
  'USER', 'RESERVED', 'XTS_AES_256_KEY_1', 'XTS_AES_256_KEY_2', 'XTS_AES_128_KEY', 'HMAC_DOWN_ALL',
  'HMAC_DOWN_JTAG', 'HMAC_DOWN_DIGITAL_SIGNATURE', 'HMAC_UP', 'SECURE_BOOT_DIGEST0',
  'SECURE_BOOT_DIGEST1', 'SECURE_BOOT_DIGEST2',
]);
/** The purpose the HMAC peripheral's upstream mode needs, the same value on every chip that has one. */
export const PURPOSE_HMAC_UP = 8;

export interface Chip {
  /** ESP-IDF target (CONFIG_IDF_TARGET) and espefuse --chip name. */
  readonly name: string;
  /** esp_chip_model_t (esp_chip_info.h): the chip byte of an attestation transcript. */
  readonly model: number;
  /** Has the HMAC peripheral (SOC_HMAC_SUPPORTED). */
  readonly hmac: boolean;
  /** Key blocks with a purpose field, BLOCK_KEY0..n-1 (SOC_EFUSE_KEY_PURPOSE_FIELD); 0 without. */
  readonly keyBlocks: number;
  /** Key purpose names by value on this chip ('' where the value is not defined). */
  readonly purposes: readonly string[];
  /** A firmware target (moddable.json) that the emulator is built for (emulator/build/<name>). */
  readonly emulated: boolean;
  /** Bytes of an espefuse --virt eFuse image: the chip's eFuse register window (EFUSE_MEM_SIZE). */
  readonly imageSize: number;
}

/** What a caller needs of a chip; `known` is any chip of the table. */
export type ChipNeed = 'known' | 'hmac' | 'emulated' | 'virtual';

// Each list once, shared by the chips that number purposes alike (the table is preloaded on the device).
const C3_PURPOSES: readonly string[] = Object.freeze(['USER', 'RESERVED', '', '', 'XTS_AES_128_KEY', 'HMAC_DOWN_ALL',
  'HMAC_DOWN_JTAG', 'HMAC_DOWN_DIGITAL_SIGNATURE', 'HMAC_UP', 'SECURE_BOOT_DIGEST0', 'SECURE_BOOT_DIGEST1',
  'SECURE_BOOT_DIGEST2']);
const H2_PURPOSES: readonly string[] = Object.freeze(['USER', 'ECDSA_KEY', 'RESERVED', '', 'XTS_AES_128_KEY',
  'HMAC_DOWN_ALL', 'HMAC_DOWN_JTAG', 'HMAC_DOWN_DIGITAL_SIGNATURE', 'HMAC_UP', 'SECURE_BOOT_DIGEST0',
  'SECURE_BOOT_DIGEST1', 'SECURE_BOOT_DIGEST2']);
const C5_PURPOSES: readonly string[] = Object.freeze(['USER', 'ECDSA_KEY', '', '', 'XTS_AES_128_KEY', 'HMAC_DOWN_ALL',
  'HMAC_DOWN_JTAG', 'HMAC_DOWN_DIGITAL_SIGNATURE', 'HMAC_UP', 'SECURE_BOOT_DIGEST0', 'SECURE_BOOT_DIGEST1',
  'SECURE_BOOT_DIGEST2', 'KM_INIT_KEY', '', '', 'XTS_AES_128_PSRAM_KEY', 'ECDSA_KEY_P192', 'ECDSA_KEY_P384_L',
  'ECDSA_KEY_P384_H']);
const P4_PURPOSES: readonly string[] = Object.freeze(['USER', 'ECDSA_KEY', 'XTS_AES_256_KEY_1', 'XTS_AES_256_KEY_2',
  'XTS_AES_128_KEY', 'HMAC_DOWN_ALL', 'HMAC_DOWN_JTAG', 'HMAC_DOWN_DIGITAL_SIGNATURE', 'HMAC_UP',
  'SECURE_BOOT_DIGEST0', 'SECURE_BOOT_DIGEST1', 'SECURE_BOOT_DIGEST2', 'KM_INIT_KEY', '', '', '', 'ECDSA_KEY_P192',
  'ECDSA_KEY_P384_L', 'ECDSA_KEY_P384_H']);
const NO_PURPOSES: readonly string[] = Object.freeze([]);

const chip = (name: string, model: number, hmac: boolean, purposes: readonly string[], emulated: boolean, imageSize = 0x200): Chip =>
  Object.freeze({ name, model, hmac, keyBlocks: purposes.length > 0 ? 6 : 0, purposes, emulated, imageSize });

/** The chips, in ESP-IDF's order of targets. */
export const CHIP_TABLE: readonly Chip[] = Object.freeze([
  chip('esp32', 1, false, NO_PURPOSES, true, 0x120),
  chip('esp32s2', 2, true, PURPOSES, false),
  chip('esp32s3', 9, true, PURPOSES, true),
  chip('esp32c2', 12, false, NO_PURPOSES, false),
  chip('esp32c3', 5, true, C3_PURPOSES, true),
  chip('esp32c5', 23, true, C5_PURPOSES, false),
  chip('esp32c6', 13, true, C3_PURPOSES, true),
  chip('esp32h2', 16, true, H2_PURPOSES, true),
  chip('esp32p4', 18, true, P4_PURPOSES, false),
]);

/** Chip name → esp_chip_model_t. */
export const CHIPS: Readonly<Record<string, number>> = Object.freeze(Object.fromEntries(CHIP_TABLE.map((c) => [c.name, c.model])));

export type ChipName = (typeof CHIP_TABLE)[number]['name'];

/** Whether chip `c` has `need`. */
function has(c: Chip, need: ChipNeed): boolean {
  switch (need) {
    case 'hmac': return c.hmac;
    case 'emulated': return c.emulated;
    // espefuse's token loader (host/espefuse/virtual.ts) is used on the chips with a 512-byte window only.
    case 'virtual': return c.imageSize === 0x200;
    default: return true;
  }
}

/** What a chip lacks when it fails a need, said in the refusal. */
const LACKS: Readonly<Record<ChipNeed, string>> = Object.freeze({
  known: '', hmac: 'no HMAC peripheral', emulated: 'not emulated', virtual: 'no virtual chips of it',
});

/** A chip that is unknown, or lacks what the caller needs. A RangeError: the argument is out of range. */
export class UnsupportedChipError extends RangeError {
  // A class field: `this.name = …` throws on a device, whose Error.prototype xsl has frozen.
  override readonly name = 'UnsupportedChipError';
  readonly chip: string;
  readonly need: ChipNeed;
  /** The chips that have every need asked for. */
  readonly supported: readonly string[];
  constructor(name: string, need: ChipNeed, supported: readonly string[]) {
    const lacks = LACKS[need];
    super(`chip "${name}" is not supported${lacks ? ` (${lacks})` : ''}; use one of ${supported.join(', ')}`);
    this.chip = name;
    this.need = need;
    this.supported = supported;
  }
}

/** The chips that have every one of `needs`, by name. */
export function chipsWith(...needs: ChipNeed[]): string[] {
  return CHIP_TABLE.filter((c) => needs.every((n) => has(c, n))).map((c) => c.name);
}

/** The table's entry for `name`; throws UnsupportedChipError when it is unknown or lacks one of `needs`. */
export function requireChip(name: unknown, ...needs: ChipNeed[]): Chip {
  const c = CHIP_TABLE.find((x) => x.name === name);
  const shown = typeof name === 'string' ? name : String(name);
  if (!c) throw new UnsupportedChipError(shown, 'known', chipsWith(...needs));
  for (const need of needs) {
    if (!has(c, need)) throw new UnsupportedChipError(shown, need, chipsWith(...needs));
  }
  return c;
}

export function chipCode(name: string): number {
  return requireChip(name).model;
}

export function chipName(code: number): string {
  return CHIP_TABLE.find((c) => c.model === code)?.name ?? `chip#${code}`;
}

export function hasHmacPeripheral(name: string): boolean {
  return requireChip(name).hmac;
}

export function purposeName(n: number): string {
  return PURPOSES[n] ?? `UNKNOWN(${n})`;
}

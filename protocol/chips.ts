// Chip models as ESP-IDF numbers them (esp_chip_model_t in esp_chip_info.h), and which of them have
// the HMAC peripheral (DESIGN.md: S2, S3, C3, C5, C6, H2, P4 — not the original ESP32 nor C2).

export const CHIPS = Object.freeze({
  esp32: 1,
  esp32s2: 2,
  esp32c3: 5,
  esp32s3: 9,
  esp32c2: 12,
  esp32c6: 13,
  esp32h2: 16,
  esp32p4: 18,
  esp32c5: 23,
} as const);

export type ChipName = keyof typeof CHIPS;

const NO_HMAC: readonly string[] = ['esp32', 'esp32c2'];

export function chipCode(name: string): number {
  const c = (CHIPS as Record<string, number>)[name];
  if (c === undefined) throw new RangeError(`chip must be one of ${Object.keys(CHIPS).join(', ')}, got "${name}"`);
  return c;
}

const NAMES: Record<number, string> = {};
for (const [k, v] of Object.entries(CHIPS)) NAMES[v] = k;

export function chipName(code: number): string {
  return NAMES[code] ?? `chip#${code}`;
}

export function hasHmacPeripheral(name: string): boolean {
  chipCode(name);
  return !NO_HMAC.includes(name);
}

/** eFuse key purposes (esp_efuse_purpose_t). */
export const PURPOSES: readonly string[] = Object.freeze([
  'USER', 'RESERVED', 'XTS_AES_256_KEY_1', 'XTS_AES_256_KEY_2', 'XTS_AES_128_KEY', 'HMAC_DOWN_ALL',
  'HMAC_DOWN_JTAG', 'HMAC_DOWN_DIGITAL_SIGNATURE', 'HMAC_UP', 'SECURE_BOOT_DIGEST0',
  'SECURE_BOOT_DIGEST1', 'SECURE_BOOT_DIGEST2',
]);
export const PURPOSE_HMAC_UP = 8;

export function purposeName(n: number): string {
  return PURPOSES[n] ?? `UNKNOWN(${n})`;
}

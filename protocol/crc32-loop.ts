// The byte loop of CRC-32/ISO-HDLC (the zlib/Ethernet CRC; check value crc32("123456789") = 0xCBF43926):
// the only part of crc32.ts and the frame decoder that touches every byte. This file is the reference,
// run by the host. The firmware's manifests give its module name ("protocol/crc32-loop") to a native
// module instead (device/native/crc32), which runs the same two functions in C on the ESP32 ROM's
// esp_rom_crc32_le, as zlib's crc32() chains: same arguments, same results (docs/native.md).

const POLY = 0xedb88320;
let table: Uint32Array | undefined;

/** The byte-at-a-time table (shared, built once). */
export function crc32Table(): Uint32Array {
  if (table) return table;
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? POLY ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return (table = t);
}

/**
 * The CRC of bytes[start, end) continued from `crc`, the CRC of what came before (0 for none), as
 * zlib's crc32(crc, buf, len) and esp_rom_crc32_le(crc, buf, len) chain.
 */
export function crc32Update(crc: number, bytes: Uint8Array, start: number, end: number): number {
  const t = crc32Table();
  let c = ~crc;
  for (let i = start; i < end; i++) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/**
 * Running CRCs: for k from `from` to `to` - 1, run[k + 1] = crc32Update(run[k], bytes, k, k + 1), so
 * after the call run[k] is the CRC of bytes[from, k) continued from run[from], for every k up to `to`.
 */
export function crc32Fill(bytes: Uint8Array, from: number, to: number, run: Uint32Array): void {
  const t = crc32Table();
  let c = ~run[from];
  for (let k = from; k < to; k++) {
    c = t[(c ^ bytes[k]) & 0xff] ^ (c >>> 8);
    run[k + 1] = ~c;
  }
}

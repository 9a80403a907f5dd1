/*
 * The native byte loop of CRC-32 (crc32.c): on a device, the module "protocol/crc32-loop" is this file
 * instead of protocol/crc32-loop.ts, with the same two functions and the same results (docs/native.md).
 */

/** The CRC of bytes[start, end) continued from crc (0 for none), as zlib's crc32() chains: esp_rom_crc32_le. */
export function crc32Update(crc, bytes, start, end) @ "xs_crc32_update";

function fill(bytes, from, to, buffer, byteOffset, length) @ "xs_crc32_fill";

/** For k in [from, to): run[k + 1] = crc32Update(run[k], bytes, k, k + 1). */
export function crc32Fill(bytes, from, to, run) {
	// The view's buffer, offset and length are read here, in JavaScript: the linker (xsl) keeps only
	// the built-ins the modules' JavaScript uses, so C that called these getters could find them gone.
	if (!(run instanceof Uint32Array))
		throw new TypeError("run: expected a Uint32Array");
	fill(bytes, from, to, run.buffer, run.byteOffset, run.length);
}

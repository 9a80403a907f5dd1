/*
 * Host declarations of the native "efuse" module (efuse.c). The `@ "xs_…"` syntax binds each export
 * to its C function; TypeScript cannot parse it, so efuse.d.ts carries the types (docs/native.md).
 */

/** HMAC-SHA256 by the HMAC peripheral with eFuse key block BLOCK_KEY<slot> (0..5); message: ArrayBuffer or view, at most 1024 bytes. Returns ArrayBuffer(32). */
export function hmac(slot, message) @ "xs_efuse_hmac";

/** Factory MAC (esp_efuse_mac_get_default): ArrayBuffer(6). */
export function mac() @ "xs_efuse_mac";

/** { model, revision (major * 100 + minor), hmac, secureBoot, flashEncryption } */
export function chip() @ "xs_efuse_chip";

/** { purpose, readProtected, writeProtected, unused } of BLOCK_KEY<slot> (0..5). */
export function keyBlock(slot) @ "xs_efuse_key_block";

/** ArrayBuffer(count) from esp_fill_random, count 1..256. */
export function random(count) @ "xs_efuse_random";

/** { id: ArrayBuffer(32) app ELF SHA-256, version, project } from esp_app_get_description(). */
export function firmware() @ "xs_efuse_firmware";

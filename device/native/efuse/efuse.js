/*
 * Host declarations of the native "efuse" module (efuse.c). The `@ "xs_…"` syntax binds each export
 * to its C function; TypeScript cannot parse it, so efuse.d.ts carries the types (docs/native.md).
 */

/** The attestation of docs/protocol.md §5 with key block BLOCK_KEY<slot> (0..5) and the host's nonce (16..64 bytes): the C reads every other field itself and builds the transcript. */
export function attest(slot, hostNonce) @ "xs_efuse_attest";

/** The SAS signature (docs/protocol.md §7) over the string-to-sign the C builds from resource (1..256 bytes) and expiry (1..2^32-1): ArrayBuffer(32). */
export function token(slot, resource, expiry) @ "xs_efuse_token";

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

// The keys of the test devices: BLOCK_KEY0 holds the attestation key, BLOCK_KEY1 the token key.
export const TEST_KEY = Uint8Array.from({ length: 32 }, (_, i) => i + 0x20);
/** The token key of the test devices (BLOCK_KEY1). */
export const TEST_TOKEN_KEY = Uint8Array.from({ length: 32 }, (_, i) => 0xc0 - i);

// Internals shared by the simulated ESP-IDF layer (emulator/idf/*.c): the chip layouts generated from
// espefuse (sim_chips.c), the loaded eFuse image and the silicon's keys (sim_efuse.c), SHA-256/HMAC
// (sha256.c). Firmware code never includes this: it sees only the IDF headers in include/.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_MAX_BLOCKS 11
#define SIM_KEY_SLOTS 6
#define SIM_KEY_BYTES 32

/** A field of an eFuse block: first bit (word * 32 + pos) and bit count; block -1 when absent. */
typedef struct {
	int8_t block;
	uint16_t bit;
	uint16_t len;
} sim_field_t;

/** One chip's eFuse layout as espefuse defines it (generated into sim_chips.c). */
typedef struct {
	const char *name;
	uint16_t mem_size;                       /* bytes of the virtual file (register window) */
	uint8_t nblocks;
	uint16_t block_off[SIM_MAX_BLOCKS];      /* read registers of each block, from the window start */
	uint8_t block_words[SIM_MAX_BLOCKS];
	uint8_t nkeys;                           /* 6 on chips with key purposes, else 0 */
	uint8_t key_block[SIM_KEY_SLOTS];        /* BLOCK_KEY0..5 = blocks 4..9 */
	int8_t key_rd_bit[SIM_KEY_SLOTS];        /* bit of RD_DIS */
	int8_t key_wr_bit[SIM_KEY_SLOTS];        /* bit of WR_DIS */
	int8_t purpose_wr_bit[SIM_KEY_SLOTS];    /* bit of WR_DIS protecting KEY_PURPOSE_n */
	sim_field_t key_purpose[SIM_KEY_SLOTS];
	sim_field_t wr_dis, rd_dis, crypt_cnt, secure_boot, mac, mac_crc;
	sim_field_t wafer_major, wafer_minor, wafer_minor_hi, chip_ver_rev1, chip_ver_rev2;
} sim_chip_layout_t;

extern const sim_chip_layout_t sim_chip_layouts[];
extern const size_t sim_chip_layout_count;

/* The simulated chip (sim_efuse.c). All return false / 0 before esp_sim_init succeeded. */
const sim_chip_layout_t *sim_layout(void);
uint32_t sim_field_u32(const sim_field_t *f);
/** The key the silicon holds in BLOCK_KEY<slot>, or NULL when it holds none known to the emulator. */
const uint8_t *sim_silicon_key(int slot);

/* Silicon side file (sim_silicon.c): {"chip":"esp32s3","keys":{"BLOCK_KEY0":"<64 hex>"}}. */
typedef struct {
	char chip[16];
	bool present[SIM_KEY_SLOTS];
	uint8_t key[SIM_KEY_SLOTS][SIM_KEY_BYTES];
} sim_silicon_t;

/** Parses the file at path into out; a missing file is no keys. Returns 0, or -1 with err filled. */
int sim_silicon_load(const char *path, sim_silicon_t *out, char *err, size_t errlen);

/* SHA-256 and HMAC-SHA256 (sha256.c), FIPS 180-4 / RFC 2104. */
typedef struct {
	uint32_t h[8];
	uint64_t bytes;
	uint8_t block[64];
	size_t fill;
} sim_sha256_t;

void sim_sha256_init(sim_sha256_t *c);
void sim_sha256_update(sim_sha256_t *c, const void *data, size_t len);
void sim_sha256_final(sim_sha256_t *c, uint8_t out[32]);
void sim_hmac_sha256(const uint8_t *key, size_t keylen, const void *msg, size_t len, uint8_t out[32]);

/** Zeroes n bytes in a way the compiler cannot drop. */
void sim_memzero(void *p, size_t n);

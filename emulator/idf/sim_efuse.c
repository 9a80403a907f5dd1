// The simulated chip's eFuses: loads the virtual eFuse file that the real espefuse writes
// (--virt --path-efuse-file) and answers ESP-IDF's eFuse, MAC, chip-info, secure boot and flash
// encryption queries from it, as the ROM and IDF read the same bits on silicon.
//
// The file is the chip's eFuse register window byte-reversed: espefuse keeps it as one bit string and
// puts the 32-bit register at offset `off` at bits [len*8 - off*8 - 32, len*8 - off*8), big-endian
// (espefuse/efuse/emulate_efuse_controller_base.py, read_reg). Reversing the whole file therefore
// gives the window in memory order, little-endian words, where field bit b of a block is bit b % 8
// of byte block_off + b / 8. Read-protected key blocks are zero in the file, as on silicon.
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "esp_chip_info.h"
#include "esp_efuse.h"
#include "esp_flash_encrypt.h"
#include "esp_mac.h"
#include "esp_secure_boot.h"
#include "esp_efuse_table.h"
#include "sdkconfig.h"
#include "esp_sim.h"
#include "soc/soc_caps.h"

#include "chip_table.h"
#include "sim_internal.h"

#define SIM_MEM_MAX 512

#if SOC_HMAC_SUPPORTED
#define SIM_HMAC 1
#else
#define SIM_HMAC 0
#endif

/* What neither the eFuses nor the chip table say: this build's cores and features (esp_chip_info.h). */
#if CONFIG_IDF_TARGET_ESP32
#define SIM_CORES 2
#define SIM_FEATURES (CHIP_FEATURE_WIFI_BGN | CHIP_FEATURE_BT | CHIP_FEATURE_BLE)
#elif CONFIG_IDF_TARGET_ESP32S2
#define SIM_CORES 1
#define SIM_FEATURES CHIP_FEATURE_WIFI_BGN
#elif CONFIG_IDF_TARGET_ESP32S3
#define SIM_CORES 2
#define SIM_FEATURES (CHIP_FEATURE_WIFI_BGN | CHIP_FEATURE_BLE)
#elif CONFIG_IDF_TARGET_ESP32C6
#define SIM_CORES 1
#define SIM_FEATURES (CHIP_FEATURE_WIFI_BGN | CHIP_FEATURE_BLE | CHIP_FEATURE_IEEE802154)
#elif CONFIG_IDF_TARGET_ESP32H2
#define SIM_CORES 1
#define SIM_FEATURES (CHIP_FEATURE_BLE | CHIP_FEATURE_IEEE802154)
#else /* ESP32-C2, -C3 */
#define SIM_CORES 1
#define SIM_FEATURES (CHIP_FEATURE_WIFI_BGN | CHIP_FEATURE_BLE)
#endif

/* What no eFuse says, as the chip table has it (build/gen/chip_table.h, from protocol/chips.ts): each
 * chip's model number (esp_chip_info.h), HMAC peripheral, key blocks and image size. */
static const struct {
	const char *name;
	esp_chip_model_t model;
	bool hmac;
	uint8_t key_blocks;
	uint16_t image_size;
} CHIPS[] = {
#define SIM_CHIP(name, model, hmac, key_blocks, image_size, emulated) { name, (esp_chip_model_t)(model), hmac, key_blocks, image_size },
	CHIP_TABLE(SIM_CHIP)
#undef SIM_CHIP
};
#define CHIP_COUNT (sizeof(CHIPS) / sizeof(CHIPS[0]))

static struct {
	const sim_chip_layout_t *layout;
	size_t chip;                                   /* index in CHIPS */
	uint8_t mem[SIM_MEM_MAX];                      /* register window, memory order */
	bool key_known[SIM_KEY_SLOTS];
	uint8_t key[SIM_KEY_SLOTS][SIM_KEY_BYTES];     /* what the silicon holds in BLOCK_KEY0..5 */
} sim;

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static bool mem_bit(const uint8_t *mem, const sim_chip_layout_t *l, const sim_field_t *f, unsigned i)
{
	unsigned bit = f->bit + i;
	return (mem[l->block_off[f->block] + bit / 8] >> (bit % 8)) & 1;
}

static uint32_t field_u32(const uint8_t *mem, const sim_chip_layout_t *l, const sim_field_t *f)
{
	uint32_t v = 0;
	if (!l || f->block < 0) return 0;
	for (unsigned i = 0; i < f->len && i < 32; i++)
		v |= (uint32_t)mem_bit(mem, l, f, i) << i;
	return v;
}

const sim_chip_layout_t *sim_layout(void) { return sim.layout; }

uint32_t sim_field_u32(const sim_field_t *f) { return field_u32(sim.mem, sim.layout, f); }

const uint8_t *sim_silicon_key(int slot)
{
	if (!sim.layout || slot < 0 || slot >= sim.layout->nkeys || !sim.key_known[slot]) return NULL;
	return sim.key[slot];
}

static const uint8_t *block_bytes(const uint8_t *mem, const sim_chip_layout_t *l, int block)
{
	return mem + l->block_off[block];
}

int esp_sim_init(const char *chip, const char *efuse_image_path, const char *silicon_path, char *err, size_t errlen)
{
	static uint8_t file[SIM_MEM_MAX + 1], mem[SIM_MEM_MAX];
	static sim_silicon_t silicon;
	const sim_chip_layout_t *l = NULL;
	size_t c, n;

	sim_memzero(&sim, sizeof(sim));
	if (!chip || !efuse_image_path) return fail(err, errlen, "esp_sim_init: chip and eFuse image path are required");
	for (c = 0; c < CHIP_COUNT && strcmp(CHIPS[c].name, chip); c++) ;
	for (n = 0; n < sim_chip_layout_count && strcmp(sim_chip_layouts[n].name, chip); n++) ;
	if (c == CHIP_COUNT || n == sim_chip_layout_count)
		return fail(err, errlen, "unknown chip \"%s\" (the emulator knows " CHIP_NAMES ")", chip);
	l = &sim_chip_layouts[n];
	/* Built for one chip, as an IDF app is (CONFIG_IDF_TARGET). */
	if (strcmp(chip, CONFIG_IDF_TARGET))
		return fail(err, errlen, "%s: this simulated IDF is built for %s", chip, CONFIG_IDF_TARGET);
	/* The chip table, espefuse's layout and this build's soc_caps.h must tell the same chip. */
	if (CHIPS[c].hmac != SIM_HMAC || CHIPS[c].key_blocks != l->nkeys || CHIPS[c].image_size != l->mem_size)
		return fail(err, errlen, "%s: the chip table (HMAC %d, %u key blocks, %u-byte image) disagrees with this build (%d, %u, %u)",
			chip, CHIPS[c].hmac, (unsigned)CHIPS[c].key_blocks, (unsigned)CHIPS[c].image_size,
			SIM_HMAC, (unsigned)l->nkeys, (unsigned)l->mem_size);

	FILE *f = fopen(efuse_image_path, "rb");
	if (!f) return fail(err, errlen, "eFuse image %s: %s", efuse_image_path, strerror(errno));
	n = fread(file, 1, sizeof(file), f);
	fclose(f);
	if (n != l->mem_size)
		return fail(err, errlen, "eFuse image %s is %zu bytes; espefuse makes %u-byte files for %s", efuse_image_path, n, (unsigned)l->mem_size, chip);
	for (size_t i = 0; i < n; i++) mem[i] = file[n - 1 - i];

	if (sim_silicon_load(silicon_path, &silicon, err, errlen)) return -1;
	if (silicon.chip[0] && strcmp(silicon.chip, chip))
		return fail(err, errlen, "silicon file %s is for %s, not %s", silicon_path, silicon.chip, chip);

	uint32_t rd_dis = field_u32(mem, l, &l->rd_dis);
	for (int s = 0; s < SIM_KEY_SLOTS; s++) {
		if (s >= l->nkeys) {
			if (silicon.present[s])
				return fail(err, errlen, "silicon file has a key for BLOCK_KEY%d, but %s has no eFuse key purposes", s, chip);
			continue;
		}
		const uint8_t *image = block_bytes(mem, l, l->key_block[s]);
		unsigned purpose = field_u32(mem, l, &l->key_purpose[s]);
		if (!(rd_dis >> l->key_rd_bit[s] & 1)) {
			/* Readable: the image shows what the silicon holds, and the side file must agree. */
			if (silicon.present[s] && memcmp(silicon.key[s], image, SIM_KEY_BYTES))
				return fail(err, errlen, "BLOCK_KEY%d is readable in the eFuse image and holds a different key than the silicon file", s);
			memcpy(sim.key[s], image, SIM_KEY_BYTES);
			sim.key_known[s] = true;
		}
		else if (silicon.present[s]) {
			memcpy(sim.key[s], silicon.key[s], SIM_KEY_BYTES);
			sim.key_known[s] = true;
		}
#if SOC_EFUSE_KEY_PURPOSE_FIELD
		else if (purpose == ESP_EFUSE_KEY_PURPOSE_HMAC_UP)
			return fail(err, errlen, "BLOCK_KEY%d is read-protected with purpose HMAC_UP, but the silicon file has no key for it", s);
#else
		else
			(void)purpose;
#endif
	}
	sim_memzero(&silicon, sizeof(silicon));
	memcpy(sim.mem, mem, sizeof(mem));
	sim_memzero(file, sizeof(file));
	sim_memzero(mem, sizeof(mem));
	sim.layout = l;
	sim.chip = c;
	return 0;
}

const char *esp_sim_target(void) { return sim.layout ? sim.layout->name : NULL; }

/* ---- esp_efuse.h ---- */

static int key_slot(esp_efuse_block_t block)
{
	if (!sim.layout) return -1;
	for (int s = 0; s < sim.layout->nkeys; s++)
		if (sim.layout->key_block[s] == (unsigned)block) return s;
	return -1;
}

bool esp_efuse_get_key_dis_read(esp_efuse_block_t block)
{
	int s = key_slot(block);
	return s >= 0 && (sim_field_u32(&sim.layout->rd_dis) >> sim.layout->key_rd_bit[s] & 1);
}

bool esp_efuse_get_key_dis_write(esp_efuse_block_t block)
{
	int s = key_slot(block);
	return s >= 0 && (sim_field_u32(&sim.layout->wr_dis) >> sim.layout->key_wr_bit[s] & 1);
}

esp_efuse_purpose_t esp_efuse_get_key_purpose(esp_efuse_block_t block)
{
	int s = key_slot(block);
	return s < 0 ? ESP_EFUSE_KEY_PURPOSE_MAX : (esp_efuse_purpose_t)sim_field_u32(&sim.layout->key_purpose[s]);
}

bool esp_efuse_get_keypurpose_dis_write(esp_efuse_block_t block)
{
	int s = key_slot(block);
	return s >= 0 && (sim_field_u32(&sim.layout->wr_dis) >> sim.layout->purpose_wr_bit[s] & 1);
}

bool esp_efuse_key_block_unused(esp_efuse_block_t block)
{
	int s = key_slot(block);
	if (s < 0) return false;
	if (esp_efuse_get_key_purpose(block) != ESP_EFUSE_KEY_PURPOSE_USER || esp_efuse_get_key_dis_read(block)
		|| esp_efuse_get_key_dis_write(block) || esp_efuse_get_keypurpose_dis_write(block))
		return false;
	const uint8_t *b = block_bytes(sim.mem, sim.layout, sim.layout->key_block[s]);
	for (int i = 0; i < SIM_KEY_BYTES; i++)
		if (b[i]) return false;
	return true;
}

bool esp_efuse_find_purpose(esp_efuse_purpose_t purpose, esp_efuse_block_t *block)
{
	if (!sim.layout) return false;
	for (int s = 0; s < sim.layout->nkeys; s++) {
		esp_efuse_block_t b = (esp_efuse_block_t)sim.layout->key_block[s];
		if (esp_efuse_get_key_purpose(b) == purpose) {
			if (block) *block = b;
			return true;
		}
	}
	return false;
}

/* ---- esp_mac.h ---- */

/* CRC-8 of the ESP32 ROM (esp_rom_efuse_mac_address_crc8): reflected polynomial 0x8C, initial 0. */
static uint8_t mac_crc8(const uint8_t *p, size_t n)
{
	uint8_t crc = 0;
	while (n--) {
		crc ^= *p++;
		for (int i = 0; i < 8; i++) crc = (crc & 1) ? (uint8_t)((crc >> 1) ^ 0x8c) : (uint8_t)(crc >> 1);
	}
	return crc;
}

esp_err_t esp_efuse_mac_get_default(uint8_t *mac)
{
	if (!mac) return ESP_ERR_INVALID_ARG;
	if (!sim.layout) return ESP_ERR_INVALID_STATE;
	const sim_field_t *f = &sim.layout->mac;
	const uint8_t *b = block_bytes(sim.mem, sim.layout, f->block) + f->bit / 8;
	/* IDF's MAC_FACTORY descriptor lists the field's bytes last to first (esp_efuse_table.c). */
	for (int i = 0; i < 6; i++) mac[i] = b[5 - i];
	if (sim.layout->mac_crc.block >= 0 && mac_crc8(mac, 6) != sim_field_u32(&sim.layout->mac_crc))
		return ESP_ERR_INVALID_CRC;
	return ESP_OK;
}

/* ---- esp_chip_info.h, esp_secure_boot.h, esp_flash_encrypt.h ---- */

static unsigned wafer_major(const sim_chip_layout_t *l)
{
	if (l->wafer_major.block >= 0) return sim_field_u32(&l->wafer_major);
	/* Original ESP32: CHIP_VER_REV1, CHIP_VER_REV2 and APB_CTRL_DATE bit 31, which no eFuse holds;
	 * like espefuse's virtual controller, take that bit as set (ECO3 silicon). The combinations map as
	 * in IDF's efuse_hal_get_major_chip_version: 0 -> 0, 1 -> 1, 3 -> 2, 7 -> 3, others 0. */
	unsigned v = sim_field_u32(&l->chip_ver_rev1) | sim_field_u32(&l->chip_ver_rev2) << 1 | 1u << 2;
	switch (v) {
	case 0: return 0;
	case 1: return 1;
	case 3: return 2;
	case 7: return 3;
	default: return 0;
	}
}

void esp_chip_info(esp_chip_info_t *out_info)
{
	memset(out_info, 0, sizeof(*out_info));
	if (!sim.layout) {
		out_info->model = CHIP_POSIX_LINUX;
		return;
	}
	const sim_chip_layout_t *l = sim.layout;
	unsigned minor = sim_field_u32(&l->wafer_minor) | sim_field_u32(&l->wafer_minor_hi) << 3;
	out_info->model = CHIPS[sim.chip].model;
	out_info->features = SIM_FEATURES;
	out_info->cores = SIM_CORES;
	out_info->revision = (uint16_t)(wafer_major(l) * 100 + minor);
}

/* On the original ESP32, IDF's esp_secure_boot_enabled() is a static inline that answers false unless
 * the app's sdkconfig enables secure boot, whatever the chip's eFuses say; Moddable's defaults do not
 * enable it. The later chips read the eFuse. */
bool esp_secure_boot_enabled(void)
{
#if CONFIG_IDF_TARGET_ESP32 && !CONFIG_SECURE_BOOT
	return false;
#else
	return sim.layout && sim_field_u32(&sim.layout->secure_boot);
#endif
}

/* The secure boot descriptors of esp_efuse_table.h. Their bits are the simulated chip's (the layout
 * is chosen at run time), so they are told apart by address. */
static const esp_efuse_desc_t SECURE_BOOT_FIELD[] = { { EFUSE_BLK0, 0, 1 } };
static const esp_efuse_desc_t ABS_DONE_0_FIELD[] = { { EFUSE_BLK0, 196, 1 } };
#if CONFIG_IDF_TARGET_ESP32
const esp_efuse_desc_t *ESP_EFUSE_ABS_DONE_0[] = { &ABS_DONE_0_FIELD[0], NULL };
const esp_efuse_desc_t *ESP_EFUSE_ABS_DONE_1[] = { &SECURE_BOOT_FIELD[0], NULL };
#else
const esp_efuse_desc_t *ESP_EFUSE_SECURE_BOOT_EN[] = { &SECURE_BOOT_FIELD[0], NULL };
#endif

bool esp_efuse_read_field_bit(const esp_efuse_desc_t *field[])
{
	if (!sim.layout || !field || !field[0]) return false;
	if (field[0] == &SECURE_BOOT_FIELD[0]) return sim_field_u32(&sim.layout->secure_boot) != 0;
	if (field[0] == &ABS_DONE_0_FIELD[0]) {
		/* ESP32 only: the bit before ABS_DONE_1 */
		sim_field_t f = sim.layout->secure_boot;
		if (f.block < 0 || f.bit == 0) return false;
		f.bit -= 1;
		return sim_field_u32(&f) != 0;
	}
	return false;
}

bool esp_flash_encryption_enabled(void)
{
	if (!sim.layout) return false;
	uint32_t cnt = sim_field_u32(&sim.layout->crypt_cnt);
	bool odd = false;
	for (; cnt; cnt >>= 1) odd ^= cnt & 1;
	return odd;
}

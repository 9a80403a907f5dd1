// The rest of the simulated ESP-IDF surface the firmware touches: esp_err_to_name, random bytes from
// the host kernel (getrandom, never a weaker fallback), and the running app's description.
#define _DEFAULT_SOURCE 1 /* getrandom() and ssize_t under -std=c11 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "bootloader_random.h"
#include "esp_app_desc.h"
#include "esp_efuse.h"
#include "esp_err.h"
#include "esp_random.h"
#include "esp_sim.h"
#include "sdkconfig.h"

#include "sim_internal.h"

static const struct { esp_err_t code; const char *name; } ERRORS[] = {
	{ ESP_OK, "ESP_OK" },
	{ ESP_FAIL, "ESP_FAIL" },
	{ ESP_ERR_NO_MEM, "ESP_ERR_NO_MEM" },
	{ ESP_ERR_INVALID_ARG, "ESP_ERR_INVALID_ARG" },
	{ ESP_ERR_INVALID_STATE, "ESP_ERR_INVALID_STATE" },
	{ ESP_ERR_INVALID_SIZE, "ESP_ERR_INVALID_SIZE" },
	{ ESP_ERR_NOT_FOUND, "ESP_ERR_NOT_FOUND" },
	{ ESP_ERR_NOT_SUPPORTED, "ESP_ERR_NOT_SUPPORTED" },
	{ ESP_ERR_TIMEOUT, "ESP_ERR_TIMEOUT" },
	{ ESP_ERR_INVALID_RESPONSE, "ESP_ERR_INVALID_RESPONSE" },
	{ ESP_ERR_INVALID_CRC, "ESP_ERR_INVALID_CRC" },
	{ ESP_ERR_INVALID_VERSION, "ESP_ERR_INVALID_VERSION" },
	{ ESP_ERR_INVALID_MAC, "ESP_ERR_INVALID_MAC" },
	{ ESP_ERR_NOT_FINISHED, "ESP_ERR_NOT_FINISHED" },
	{ ESP_ERR_NOT_ALLOWED, "ESP_ERR_NOT_ALLOWED" },
	{ ESP_OK_EFUSE_CNT, "ESP_OK_EFUSE_CNT" },
	{ ESP_ERR_EFUSE_CNT_IS_FULL, "ESP_ERR_EFUSE_CNT_IS_FULL" },
	{ ESP_ERR_EFUSE_REPEATED_PROG, "ESP_ERR_EFUSE_REPEATED_PROG" },
	{ ESP_ERR_CODING, "ESP_ERR_CODING" },
	{ ESP_ERR_NOT_ENOUGH_UNUSED_KEY_BLOCKS, "ESP_ERR_NOT_ENOUGH_UNUSED_KEY_BLOCKS" },
	{ ESP_ERR_DAMAGED_READING, "ESP_ERR_DAMAGED_READING" },
};

/* As IDF built with Moddable's sdkconfig (CONFIG_ESP_ERR_TO_NAME_LOOKUP off): no names at all. */
const char *esp_err_to_name(esp_err_t code)
{
#if CONFIG_ESP_ERR_TO_NAME_LOOKUP
	for (size_t i = 0; i < sizeof(ERRORS) / sizeof(ERRORS[0]); i++)
		if (ERRORS[i].code == code) return ERRORS[i].name;
#else
	(void)code;
	(void)ERRORS;
#endif
	return "UNKNOWN ERROR";
}

const char *esp_err_to_name_r(esp_err_t code, char *buf, size_t buflen)
{
	const char *name = esp_err_to_name(code);
	if (strcmp(name, "UNKNOWN ERROR")) snprintf(buf, buflen, "%s", name);
	else snprintf(buf, buflen, "Unknown error 0x%x", (unsigned)code);
	return buf;
}

/* The chip's RNG is truly random only with an entropy source: RF on, or the SAR ADC source of
 * bootloader_random_enable() (esp_random.h). The emulator never runs RF, so without the ADC source its
 * RNG gives a fixed sequence from power-on: as unfit for a nonce as a chip's, and visibly so. */
static bool adcEntropy;
static uint64_t weakState = 0x9e3779b97f4a7c15ull;

void bootloader_random_enable(void) { adcEntropy = true; }
void bootloader_random_disable(void) { adcEntropy = false; }

void esp_fill_random(void *buf, size_t len)
{
	uint8_t *p = buf;
	if (!adcEntropy) {
		for (size_t i = 0; i < len; i++) {
			weakState ^= weakState << 13;
			weakState ^= weakState >> 7;
			weakState ^= weakState << 17;
			p[i] = (uint8_t)(weakState >> 24);
		}
		return;
	}
	while (len) {
		ssize_t n = getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR) continue;
			/* A chip whose RNG fails must not hand out predictable nonces. */
			perror("esp_fill_random: getrandom");
			abort();
		}
		p += n;
		len -= (size_t)n;
	}
}

uint32_t esp_random(void)
{
	uint32_t v;
	esp_fill_random(&v, sizeof(v));
	return v;
}

static esp_app_desc_t app = {
	.magic_word = ESP_APP_DESC_MAGIC_WORD,
	.version = "0.1.0",
	.project_name = "efuse-attest",
	.time = "00:00:00",
	.date = "Jan  1 2000",
	.idf_ver = "emulator",
};
static int app_id_set;

static void app_id_default(void)
{
	static const char text[] = "efuse-attest emulator firmware";
	sim_sha256_t c;
	sim_sha256_init(&c);
	sim_sha256_update(&c, text, sizeof(text) - 1);
	sim_sha256_final(&c, app.app_elf_sha256);
	app_id_set = 1;
}

const esp_app_desc_t *esp_app_get_description(void)
{
	if (!app_id_set) app_id_default();
	return &app;
}

int esp_sim_set_firmware_file(const char *path, char *err, size_t errlen)
{
	uint8_t buf[4096];
	sim_sha256_t c;
	FILE *f = path ? fopen(path, "rb") : NULL;
	if (!f) {
		snprintf(err, errlen, "firmware file %s: %s", path ? path : "(null)", path ? strerror(errno) : "no path");
		return -1;
	}
	sim_sha256_init(&c);
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) sim_sha256_update(&c, buf, n);
	int failed = ferror(f);
	fclose(f);
	if (failed) {
		snprintf(err, errlen, "firmware file %s: read error", path);
		return -1;
	}
	sim_sha256_final(&c, app.app_elf_sha256);
	app_id_set = 1;
	return 0;
}

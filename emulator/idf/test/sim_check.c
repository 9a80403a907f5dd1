// Test driver for the simulated ESP-IDF layer: becomes a chip from an espefuse virtual eFuse file and a
// silicon side file, then prints as JSON what the IDF API answers, so test/emulator-idf.test.ts can
// compare it with `espefuse summary --format json` and node:crypto.
//   sim_check CHIP EFUSE_IMAGE SILICON_JSON|- [MESSAGE_HEX [FIRMWARE_FILE]]
// Exit 0 with {"ok":true,...}; exit 2 with {"ok":false,"error":"..."} when esp_sim_init refuses.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bootloader_random.h"
#include "esp_app_desc.h"
#include "esp_chip_info.h"
#include "esp_efuse.h"
#include "esp_efuse_table.h"
#include "sdkconfig.h"
#include "esp_err.h"
#include "esp_flash_encrypt.h"
#include "esp_mac.h"
#include "esp_random.h"
#include "esp_secure_boot.h"
#include "esp_sim.h"
#include "soc/soc_caps.h"
#if SOC_HMAC_SUPPORTED
#include "esp_hmac.h"
#endif

/* The codes by name: esp_err_to_name() has no table in Moddable's configuration (sdkconfig.h). */
static const char *err_name(esp_err_t e)
{
	static const struct { esp_err_t code; const char *name; } names[] = {
		{ ESP_OK, "ESP_OK" }, { ESP_FAIL, "ESP_FAIL" }, { ESP_ERR_NO_MEM, "ESP_ERR_NO_MEM" },
		{ ESP_ERR_INVALID_ARG, "ESP_ERR_INVALID_ARG" }, { ESP_ERR_INVALID_STATE, "ESP_ERR_INVALID_STATE" },
		{ ESP_ERR_INVALID_SIZE, "ESP_ERR_INVALID_SIZE" }, { ESP_ERR_NOT_FOUND, "ESP_ERR_NOT_FOUND" },
		{ ESP_ERR_NOT_SUPPORTED, "ESP_ERR_NOT_SUPPORTED" }, { ESP_ERR_INVALID_CRC, "ESP_ERR_INVALID_CRC" },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].code == e) return names[i].name;
	return "UNKNOWN ERROR";
}

static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\') printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20) printf("\\u%04x", *s);
		else putchar(*s);
	}
	putchar('"');
}

static void hex(const uint8_t *p, size_t n, const char *sep)
{
	putchar('"');
	for (size_t i = 0; i < n; i++) printf("%s%02x", i && sep ? sep : "", p[i]);
	putchar('"');
}

static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = strlen(s) / 2;
	if (n > cap) n = cap;
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1) {
			fprintf(stderr, "bad hex message\n");
			exit(1);
		}
		out[i] = (uint8_t)v;
	}
	return n;
}

int main(int argc, char **argv)
{
	static uint8_t message[65536];
	char err[256];
	if (argc < 4) {
		fprintf(stderr, "usage: sim_check CHIP EFUSE_IMAGE SILICON_JSON|- [MESSAGE_HEX [FIRMWARE_FILE]]\n");
		return 1;
	}
	if (esp_sim_init(argv[1], argv[2], strcmp(argv[3], "-") ? argv[3] : NULL, err, sizeof(err))) {
		printf("{\"ok\":false,\"error\":");
		json_string(err);
		printf("}\n");
		return 2;
	}
	size_t len = argc > 4 ? unhex(argv[4], message, sizeof(message)) : 0;
	if (argc > 5 && esp_sim_set_firmware_file(argv[5], err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}

	esp_chip_info_t info;
	esp_chip_info(&info);
	printf("{\"ok\":true,\"target\":");
	json_string(esp_sim_target());
	printf(",\"model\":%d,\"revision\":%u,\"cores\":%u", (int)info.model, (unsigned)info.revision, (unsigned)info.cores);

	uint8_t mac[8];
	esp_err_t e = esp_efuse_mac_get_default(mac);
	printf(",\"macErr\":\"%s\",\"mac\":", err_name(e));
	hex(mac, 6, ":");
	printf(",\"macNull\":\"%s\"", err_name(esp_efuse_mac_get_default(NULL)));
#if CONFIG_IDF_TARGET_ESP32
	bool fused = esp_efuse_read_field_bit(ESP_EFUSE_ABS_DONE_1);
#else
	bool fused = esp_efuse_read_field_bit(ESP_EFUSE_SECURE_BOOT_EN);
#endif
	printf(",\"secureBootApp\":%s", esp_secure_boot_enabled() ? "true" : "false");
	printf(",\"secureBoot\":%s,\"flashEncryption\":%s", fused ? "true" : "false",
		esp_flash_encryption_enabled() ? "true" : "false");

#if SOC_EFUSE_KEY_PURPOSE_FIELD
	printf(",\"keys\":[");
	for (int s = 0; s < 6; s++) {
		esp_efuse_block_t b = (esp_efuse_block_t)(EFUSE_BLK_KEY0 + s);
		printf("%s{\"purpose\":%d,\"readProtected\":%s,\"writeProtected\":%s,\"purposeWriteProtected\":%s,\"unused\":%s}",
			s ? "," : "", (int)esp_efuse_get_key_purpose(b), esp_efuse_get_key_dis_read(b) ? "true" : "false",
			esp_efuse_get_key_dis_write(b) ? "true" : "false", esp_efuse_get_keypurpose_dis_write(b) ? "true" : "false",
			esp_efuse_key_block_unused(b) ? "true" : "false");
	}
	esp_efuse_block_t found = EFUSE_BLK0;
	bool has = esp_efuse_find_purpose(ESP_EFUSE_KEY_PURPOSE_HMAC_UP, &found);
	printf("],\"findHmacUp\":%d", has ? (int)found : -1);
	printf(",\"notKeyBlockPurpose\":%d", (int)esp_efuse_get_key_purpose(EFUSE_BLK3));
#endif

#if SOC_HMAC_SUPPORTED
	printf(",\"hmac\":[");
	for (int s = 0; s <= HMAC_KEY_MAX; s++) {
		uint8_t out[32] = { 0 };
		e = esp_hmac_calculate((hmac_key_id_t)s, message, len, out);
		printf("%s{\"slot\":%d,\"err\":\"%s\",\"mac\":", s ? "," : "", s, err_name(e));
		hex(out, e == ESP_OK ? 32 : 0, NULL);
		printf("}");
	}
	uint8_t out[32];
	printf("],\"hmacNullMessage\":\"%s\"", err_name(esp_hmac_calculate(HMAC_KEY0, NULL, 0, out)));
	printf(",\"hmacNullResult\":\"%s\"", err_name(esp_hmac_calculate(HMAC_KEY0, message, len, NULL)));
#else
	(void)len;
#endif

	/* Without an entropy source the RNG is a fixed sequence from power-on; with one, random. */
	uint8_t r1[32] = { 0 }, r2[32] = { 0 };
	esp_fill_random(r1, sizeof(r1));
	printf(",\"weakRandom\":");
	hex(r1, sizeof(r1), NULL);
	bootloader_random_enable();
	esp_fill_random(r1, sizeof(r1));
	esp_fill_random(r2, sizeof(r2));
	bootloader_random_disable();
	printf(",\"randomDiffers\":%s,\"entropyRandom\":", memcmp(r1, r2, sizeof(r1)) ? "true" : "false");
	hex(r1, sizeof(r1), NULL);

	const esp_app_desc_t *app = esp_app_get_description();
	printf(",\"app\":{\"version\":");
	json_string(app->version);
	printf(",\"project\":");
	json_string(app->project_name);
	printf(",\"sha256\":");
	hex(app->app_elf_sha256, 32, NULL);
	printf("},\"errName\":\"%s\",\"unknownErrName\":\"%s\"}\n", esp_err_to_name(ESP_ERR_INVALID_STATE), esp_err_to_name(0x7777));
	return 0;
}

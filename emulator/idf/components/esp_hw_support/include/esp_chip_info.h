// Emulator copy of ESP-IDF's esp_chip_info.h: chip model numbers and esp_chip_info_t as in IDF 5.x/6.x.
#pragma once

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
	CHIP_ESP32  = 1,
	CHIP_ESP32S2 = 2,
	CHIP_ESP32S3 = 9,
	CHIP_ESP32C3 = 5,
	CHIP_ESP32C2 = 12,
	CHIP_ESP32C6 = 13,
	CHIP_ESP32H2 = 16,
	CHIP_ESP32P4 = 18,
	CHIP_ESP32C61 = 20,
	CHIP_ESP32C5 = 23,
	CHIP_POSIX_LINUX = 999,
} esp_chip_model_t;

#define CHIP_FEATURE_EMB_FLASH      (1u << 0)
#define CHIP_FEATURE_WIFI_BGN       (1u << 1)
#define CHIP_FEATURE_BLE            (1u << 4)
#define CHIP_FEATURE_BT             (1u << 5)
#define CHIP_FEATURE_IEEE802154     (1u << 6)
#define CHIP_FEATURE_EMB_PSRAM      (1u << 7)

typedef struct {
	esp_chip_model_t model;
	uint32_t features;
	uint16_t revision;      /* major * 100 + minor (wafer version) */
	uint8_t cores;
} esp_chip_info_t;

void esp_chip_info(esp_chip_info_t *out_info);

#ifdef __cplusplus
}
#endif

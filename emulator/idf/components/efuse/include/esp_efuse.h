// Emulator copy of the part of ESP-IDF's esp_efuse.h (components/efuse) the firmware uses: the key
// block queries, with IDF's signatures. The simulated chip answers them from an espefuse image.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "esp_err.h"
#include "soc/soc_caps.h"
#include "esp_efuse_chip.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ESP_ERR_EFUSE                              0x1600
#define ESP_OK_EFUSE_CNT                          (ESP_ERR_EFUSE + 0x01)
#define ESP_ERR_EFUSE_CNT_IS_FULL                 (ESP_ERR_EFUSE + 0x02)
#define ESP_ERR_EFUSE_REPEATED_PROG               (ESP_ERR_EFUSE + 0x03)
#define ESP_ERR_CODING                            (ESP_ERR_EFUSE + 0x04)
#define ESP_ERR_NOT_ENOUGH_UNUSED_KEY_BLOCKS      (ESP_ERR_EFUSE + 0x05)
#define ESP_ERR_DAMAGED_READING                   (ESP_ERR_EFUSE + 0x06)

/** Read protection (RD_DIS) of a key block EFUSE_BLK_KEY0..EFUSE_BLK_KEY5. */
/* A field: where its bits are (IDF's layout of esp_efuse_desc_t). */
typedef struct {
	esp_efuse_block_t efuse_block: 8;
	uint8_t bit_start;
	uint16_t bit_count;
} esp_efuse_desc_t;

bool esp_efuse_read_field_bit(const esp_efuse_desc_t *field[]);

bool esp_efuse_get_key_dis_read(esp_efuse_block_t block);
/** Write protection (WR_DIS) of a key block. */
bool esp_efuse_get_key_dis_write(esp_efuse_block_t block);
/** All-zero content, not read or write protected, purpose USER. False for a block that is no key block. */
bool esp_efuse_key_block_unused(esp_efuse_block_t block);
/** Finds a key block with the purpose; block may be NULL. */
bool esp_efuse_find_purpose(esp_efuse_purpose_t purpose, esp_efuse_block_t *block);
/** Write protection of the key purpose field of a key block. */
bool esp_efuse_get_keypurpose_dis_write(esp_efuse_block_t block);
/** Purpose of a key block; ESP_EFUSE_KEY_PURPOSE_MAX for a block that is no key block. */
esp_efuse_purpose_t esp_efuse_get_key_purpose(esp_efuse_block_t block);

#ifdef __cplusplus
}
#endif

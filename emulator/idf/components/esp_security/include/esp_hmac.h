// Emulator copy of ESP-IDF's esp_hmac.h (esp_hw_support in IDF 5.x, esp_security in 6.x): the same
// declaration, and the same refusal to compile for a chip without the HMAC peripheral.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "esp_err.h"
#include "soc/soc_caps.h"
#include "hal/hmac_types.h"

#if !SOC_HMAC_SUPPORTED
#error "HMAC peripheral is not supported for the selected target"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/**
 * HMAC-SHA256 of message with the key in eFuse block BLOCK_KEY<key_id> (upstream mode).
 * @return ESP_OK; ESP_ERR_INVALID_ARG if message or hmac is NULL or key_id is out of range;
 *         ESP_FAIL if the block's key purpose is not HMAC_UP.
 */
esp_err_t esp_hmac_calculate(hmac_key_id_t key_id, const void *message, size_t message_len, uint8_t *hmac);

#ifdef __cplusplus
}
#endif

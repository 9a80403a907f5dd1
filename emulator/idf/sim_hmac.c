// The simulated HMAC peripheral: esp_hmac_calculate with ESP-IDF's contract (esp_security/src/esp_hmac.c):
// ESP_ERR_INVALID_ARG for a NULL pointer or a key id past HMAC_KEY5, ESP_FAIL when the block's key
// purpose is not HMAC_UP, else plain HMAC-SHA256 with the 32 key bytes as burned (no byte reversal)
// and no limit on the message length. Built only for chips that have the peripheral.
#include "soc/soc_caps.h"

#if SOC_HMAC_SUPPORTED

#include "esp_efuse.h"
#include "esp_hmac.h"

#include "sim_internal.h"

esp_err_t esp_hmac_calculate(hmac_key_id_t key_id, const void *message, size_t message_len, uint8_t *hmac)
{
	if (!message || !hmac) return ESP_ERR_INVALID_ARG;
	if ((unsigned)key_id >= HMAC_KEY_MAX) return ESP_ERR_INVALID_ARG;
	const sim_chip_layout_t *l = sim_layout();
	if (!l || (int)key_id >= l->nkeys) return ESP_FAIL;
	/* The peripheral refuses a block whose purpose is not HMAC_UP (hmac_hal_configure fails). */
	if (sim_field_u32(&l->key_purpose[key_id]) != ESP_EFUSE_KEY_PURPOSE_HMAC_UP) return ESP_FAIL;
	const uint8_t *key = sim_silicon_key((int)key_id);
	if (!key) return ESP_FAIL; /* unreachable: esp_sim_init refuses an HMAC_UP block without its key */
	sim_hmac_sha256(key, SIM_KEY_BYTES, message, message_len, hmac);
	return ESP_OK;
}

#else

/* No HMAC peripheral: nothing to simulate (ISO C wants a declaration in every translation unit). */
typedef int sim_hmac_absent_t;

#endif

// Emulator copy of the HMAC key ids (esp_hmac.h in ESP-IDF 5.x, hal/hmac_types.h in 6.x).
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

/** The eFuse key blocks the HMAC peripheral can use: HMAC_KEYn is BLOCK_KEYn (eFuse block 4 + n). */
typedef enum {
	HMAC_KEY0 = 0,
	HMAC_KEY1,
	HMAC_KEY2,
	HMAC_KEY3,
	HMAC_KEY4,
	HMAC_KEY5,
	HMAC_KEY_MAX
} hmac_key_id_t;

#ifdef __cplusplus
}
#endif

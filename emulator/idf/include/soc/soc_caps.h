// Emulator stand-in for ESP-IDF's soc/soc_caps.h. The emulator is built twice: normally, as a chip
// with the HMAC peripheral and eFuse key purposes (ESP32-S2/S3/C3/C6/H2), and with -DEMU_NO_HMAC,
// as a chip with neither (the original ESP32, ESP32-C2). esp_sim_init refuses a chip of the other kind.
#pragma once

#ifndef EMU_NO_HMAC
#define SOC_HMAC_SUPPORTED              1
#define SOC_EFUSE_KEY_PURPOSE_FIELD     1
#endif

// Emulator copy of the capabilities of ESP-IDF's soc/esp32h2/include/soc/soc_caps.h that the firmware's
// native C and the simulated IDF test. (SOC_IEEE802154_SUPPORTED is left out on the chips that have
// it: the simulated esp_efuse_mac_get_default returns the 6-byte MAC-48 only.)
#pragma once

#define SOC_HMAC_SUPPORTED              1
#define SOC_EFUSE_KEY_PURPOSE_FIELD     1

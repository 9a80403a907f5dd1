// Emulator stand-in for the sdkconfig.h an ESP-IDF build generates from Moddable's sdkconfig
// defaults: the target, and the options the firmware's native C depends on. The HMAC build stands for
// the chips with the peripheral; the -DEMU_NO_HMAC build for the original ESP32.
#pragma once

#ifdef EMU_NO_HMAC
#define CONFIG_IDF_TARGET_ESP32 1
#define CONFIG_IDF_TARGET "esp32"
#endif
/* Moddable's sdkconfig.defaults turn the name table off: esp_err_to_name() answers "UNKNOWN ERROR". */
/* #undef CONFIG_ESP_ERR_TO_NAME_LOOKUP */
/* Moddable's release defaults enable neither secure boot nor flash encryption in the app's config. */
/* #undef CONFIG_SECURE_BOOT */

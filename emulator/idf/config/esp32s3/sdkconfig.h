// Emulator stand-in for the sdkconfig.h an ESP-IDF build for esp32s3 generates from Moddable's
// sdkconfig defaults (build/config/sdkconfig.h): the target, and the options the native C reads.
#pragma once

#define CONFIG_IDF_TARGET "esp32s3"
#define CONFIG_IDF_TARGET_ESP32S3 1
/* Moddable's sdkconfig.defaults turn the name table off: esp_err_to_name() answers "UNKNOWN ERROR". */
/* #undef CONFIG_ESP_ERR_TO_NAME_LOOKUP */
/* Moddable's release defaults enable neither secure boot nor flash encryption in the app's config. */
/* #undef CONFIG_SECURE_BOOT */

// The emulator's control of its simulated chip (not an ESP-IDF header): load the eFuse image that the
// real espefuse made in virtual mode, and the silicon side file holding the keys the image cannot show.
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Becomes the chip `chip` ("esp32s3", "esp32c3", ...) whose eFuses are the virtual file at
 * efuse_image_path (espefuse --virt --path-efuse-file). silicon_path is a JSON file
 * {"chip":"esp32s3","keys":{"BLOCK_KEY0":"<64 hex>"}} with the keys of read-protected blocks; NULL or
 * a missing file means none. Returns 0, or -1 with a one-line reason in err (naming the block when a
 * key is missing or does not match the image). May be called again to become another chip.
 */
int esp_sim_init(const char *chip, const char *efuse_image_path, const char *silicon_path, char *err, size_t errlen);

/** The chip name given to esp_sim_init (CONFIG_IDF_TARGET on a board), or NULL before it succeeded. */
const char *esp_sim_target(void);

/**
 * Sets the app description's app_elf_sha256 to the SHA-256 of the file at path (the firmware's
 * entry file); without it, it is SHA-256 of the ASCII text "efuse-attest emulator firmware".
 * Returns 0, or -1 with err filled.
 */
int esp_sim_set_firmware_file(const char *path, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

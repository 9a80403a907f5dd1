/*
 * Which of the two binaries this is: efuse-attest-emu (chips with the HMAC peripheral) or
 * efuse-attest-emu-nohmac (esp32, esp32c2), built from the same sources with -DEMU_NO_HMAC so the
 * simulated soc/soc_caps.h leaves SOC_HMAC_SUPPORTED undefined, as ESP-IDF does for those chips.
 */
#include "emu.h"

#ifdef EMU_NO_HMAC
const bool emu_built_with_hmac = false;
#else
const bool emu_built_with_hmac = true;
#endif

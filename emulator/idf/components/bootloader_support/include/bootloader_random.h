// Emulator copy of ESP-IDF's bootloader_support/include/bootloader_random.h: the SAR ADC entropy source
// for the hardware RNG, for apps that run no RF. The simulated RNG (sim_app.c) is truly random only
// while it is enabled, as esp_random.h says of a chip.
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

void bootloader_random_enable(void);
void bootloader_random_disable(void);

#ifdef __cplusplus
}
#endif

/*
 * The chip this binary emulates: compiled once per chip with that chip's sdkconfig.h
 * (emulator/idf/config/<chip>), as the native module and the simulated IDF are.
 */
#include "emu.h"
#include "sdkconfig.h"

const char *const emu_target = CONFIG_IDF_TARGET;

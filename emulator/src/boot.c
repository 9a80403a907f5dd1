/*
 * The chips the emulator knows (the chip table's emulated chips, build/gen/chip_table.h) and the text
 * their boot ROM and second-stage bootloader print on UART0 at every reset. A host must skip this text
 * (docs/protocol.md: anything between frames is a log line), so the emulator prints it as a board
 * does: at power-on and after each reset. The ROM strings follow what each chip's ROM prints;
 * addresses and lengths are representative. test/chips.test.ts checks that every emulated chip has
 * its ROM text here, and no other chip does.
 */
#include "emu.h"
#include "chip_table.h"

#include <stdio.h>
#include <string.h>

struct emu_chip {
	const char *name;
	const char *rom;    /* first ROM lines, up to the reset cause */
	const char *boot;   /* "boot:0x.. (SPI_FAST_FLASH_BOOT)" */
	const char *after;  /* ROM lines after the reset cause */
};

#define NEW_ROM_TAIL \
	"SPIWP:0xee\r\n" \
	"mode:DIO, clock div:1\r\n" \
	"load:0x3fce3810,len:0x178c\r\n" \
	"load:0x403c9700,len:0x4\r\n" \
	"load:0x403c9704,len:0xcb8\r\n" \
	"load:0x403cc700,len:0x2d9c\r\n" \
	"entry 0x403c9914\r\n"

static const emu_chip chips[] = {
	{ "esp32",
		"ets Jul 29 2019 12:21:46\r\n\r\n", "boot:0x13 (SPI_FAST_FLASH_BOOT)",
		"configsip: 0, SPIWP:0xee\r\n"
		"clk_drv:0x00,q_drv:0x00,d_drv:0x00,cs0_drv:0x00,hd_drv:0x00,wp_drv:0x00\r\n"
		"mode:DIO, clock div:2\r\n"
		"load:0x3fff0030,len:7104\r\n"
		"load:0x40078000,len:15576\r\n"
		"load:0x40080400,len:4\r\n"
		"entry 0x4008064c\r\n" },
	{ "esp32s3",
		"ESP-ROM:esp32s3-20210327\r\nBuild:Mar 27 2021\r\n", "boot:0x8 (SPI_FAST_FLASH_BOOT)",
		NEW_ROM_TAIL },
	{ "esp32c3",
		"ESP-ROM:esp32c3-api1-20210207\r\nBuild:Feb  7 2021\r\n", "boot:0xc (SPI_FAST_FLASH_BOOT)",
		NEW_ROM_TAIL },
	{ "esp32c6",
		"ESP-ROM:esp32c6-20220919\r\nBuild:Sep 19 2022\r\n", "boot:0x6c (SPI_FAST_FLASH_BOOT)",
		NEW_ROM_TAIL },
	{ "esp32h2",
		"ESP-ROM:esp32h2-20221101\r\nBuild:Nov  1 2022\r\n", "boot:0xc (SPI_FAST_FLASH_BOOT)",
		NEW_ROM_TAIL },
};

static bool emulated(const char *name)
{
#define EMU_CHIP(chip, model, hmac, key_blocks, image_size, emulated) { chip, emulated },
	static const struct { const char *name; bool emulated; } table[] = { CHIP_TABLE(EMU_CHIP) };
#undef EMU_CHIP
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (strcmp(table[i].name, name) == 0)
			return table[i].emulated;
	}
	return false;
}

const emu_chip *chip_find(const char *name)
{
	if (!emulated(name))
		return NULL;
	for (size_t i = 0; i < sizeof(chips) / sizeof(chips[0]); i++) {
		if (strcmp(chips[i].name, name) == 0)
			return &chips[i];
	}
	return NULL;
}

const char *chip_names(void)
{
	return EMULATED_CHIP_NAMES;
}

static void say(const char *text)
{
	uart_console(text, strlen(text));
}

void boot_banner(const emu_chip *chip, emu_boot_reason reason)
{
	char line[160];
	const bool classic = strcmp(chip->name, "esp32") == 0;
	const char *cause;

	switch (reason) {
	case BOOT_POWERON:
		cause = classic ? "rst:0x1 (POWERON_RESET)" : "rst:0x1 (POWERON)";
		break;
	case BOOT_SW_RESET:
		cause = classic ? "rst:0xc (SW_CPU_RESET)" : "rst:0xc (RTC_SW_CPU_RST)";
		break;
	default: /* a panic ends in esp_restart(): a software CPU reset too */
		cause = classic ? "rst:0xc (SW_CPU_RESET)" : "rst:0xc (RTC_SW_CPU_RST)";
		break;
	}
	if (reason != BOOT_POWERON && !classic)
		say("\r\n");
	say(chip->rom);
	snprintf(line, sizeof(line), "%s,%s\r\n", cause, chip->boot);
	say(line);
	if (reason != BOOT_POWERON && !classic)
		say("Saved PC:0x40375e3a\r\n");
	say(chip->after);

	say("I (31) boot: ESP-IDF v5.2.2 2nd stage bootloader\r\n");
	snprintf(line, sizeof(line), "I (31) boot: chip: %s (emulated)\r\n", chip->name);
	say(line);
	say("I (35) boot: Loaded app from partition at offset 0x10000\r\n");
	say("I (52) cpu_start: Pro cpu start user code\r\n");
	say("I (70) main_task: Calling app_main()\r\n");
}

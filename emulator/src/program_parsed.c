/*
 * The firmware as the parsed build runs it: a new machine with the built-ins only; the modules are
 * parsed from their sources when imported (modules.c). At boot the preloaded modules are imported and
 * the built-ins frozen, as xsl does when it links the archive a device carries in flash; then "main"
 * is imported.
 */
#include "xsAll.h"
#include "xs.h"
#include "emu.h"

struct sxMachine *program_create(const struct sxCreation *creation, char *err, size_t errlen)
{
	txMachine *the = xsCreateMachine((txCreation *)creation, "efuse-attest", NULL);
	if (!the)
		snprintf(err, errlen, "cannot create the XS machine");
	return the;
}

int program_boot(char *err, size_t errlen)
{
	for (size_t i = 0; i < linkmap_preload_count(); i++) {
		if (engine_import(linkmap_preload(i), "preloading", err, errlen) != 0)
			return -1;
	}
	if (engine_import(FREEZE_MODULE, "freezing the built-ins with", err, errlen) != 0)
		return -1;
	return engine_import("main", "starting", err, errlen);
}

void program_release(void)
{
	modules_release();
}

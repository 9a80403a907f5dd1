/*
 * The firmware as a device runs it: from the archive Moddable's linker xsl wrote for the chip
 * (mc.xs.c, compiled into this build), which holds every module's byte code and the heap of the
 * preloaded modules, already run and with the built-ins frozen, in read-only memory. The machine is a
 * clone of that prepared machine (fxPrepareMachine): only what the firmware allocates after boot lives
 * in its own heap. Modules are found and loaded from the archive's script table, by the names xsl gave
 * them, as Moddable's device host does (xs/platforms/mc/xsHosts.c). At boot the "setup/…" modules run
 * and then "main", as its modRunMachineSetup does.
 *
 * The archive is the chip's own link, so --main and --config-json, which change the firmware, are
 * refused; host functions of Moddable modules the firmware does not use are stubs (gen-stubs.sh).
 */
#include "xsAll.h"
#include "xs.h"
#include "emu.h"

/* Written by xsl into mc.xs.c: the prepared machine and its creation parameters. */
extern void *xsPreparationAndCreation(xsCreation **creation);

/* ---- modules ---- */

static txPreparation *preparation(txMachine *the)
{
	return the->preparation;
}

static bool in_archive(txMachine *the, const char *name)
{
	txPreparation *p = preparation(the);
	for (txInteger i = 0; i < p->scriptCount; i++) {
		if (!c_strcmp(p->scripts[i].path, name))
			return true;
	}
	return false;
}

/* The name a specifier refers to, as xsl and the device's loader compute it: "moddable:" dropped, a
   ".js"/".mjs" suffix of the last segment dropped, "./" and "../" relative to the importing module's
   name. */
txID fxFindModule(txMachine *the, txSlot *realm, txID moduleID, txSlot *slot)
{
	char name[C_PATH_MAX];
	char path[C_PATH_MAX + 1];
	char *dot, *slash;
	int ups = 0, skip = 0;
	(void)realm;

	fxToStringBuffer(the, slot, name, sizeof(name));
	if (!c_strncmp(name, "moddable:", 9))
		c_memmove(name, name + 9, c_strlen(name) - 8);
	slash = c_strrchr(name, '/');
	dot = c_strrchr(slash ? slash : name, '.');
	if (dot && (!c_strcmp(dot, ".js") || !c_strcmp(dot, ".mjs")))
		*dot = 0;
	if (name[0] == '.' && name[1] == '/')
		ups = skip = 1;
	else if (name[0] == '.' && name[1] == '.' && name[2] == '/') {
		ups = skip = 2;
		while (name[skip + 1] == '.' && name[skip + 2] == '.' && name[skip + 3] == '/') {
			ups++;
			skip += 3;
		}
	}
	if (ups) {
		if (moduleID == XS_NO_ID)
			return XS_NO_ID;
		snprintf(path, sizeof(path), "/%s", fxGetKeyName(the, moduleID));
		while (ups--) {
			slash = c_strrchr(path, '/');
			if (!slash)
				return XS_NO_ID;
			*slash = 0;
		}
		if (c_strlen(path) + c_strlen(name + skip) >= sizeof(path))
			mxRangeError("path too long");
		c_strcat(path, name + skip);
		c_memmove(path, path + 1, c_strlen(path));
	}
	else
		snprintf(path, sizeof(path), "%s", name);
	return in_archive(the, path) ? fxNewNameC(the, path) : XS_NO_ID;
}

void fxLoadModule(txMachine *the, txSlot *module, txID moduleID)
{
	txPreparation *p = preparation(the);
	txString name = fxGetKeyName(the, moduleID);
	for (txInteger i = 0; i < p->scriptCount; i++) {
		if (!c_strcmp(name, p->scripts[i].path)) {
			fxResolveModule(the, module, moduleID, &p->scripts[i], C_NULL, C_NULL);
			return;
		}
	}
}

/* ---- the machine ---- */

static txMachine *machine;

/* The emulator's chunk, slot and stack sizes (they grow on demand, so the stats show what the firmware
   uses); the key, name and symbol tables as xsl sized them: the clone copies the prepared ones. */
struct sxMachine *program_create(const struct sxCreation *creation, char *err, size_t errlen)
{
	xsCreation *linked;
	void *prepared = xsPreparationAndCreation(&linked);
	txCreation sizes = *linked;

	if (emu_opts.main || emu_opts.configJson) {
		snprintf(err, errlen, "this emulator runs xsl's archive of the firmware: --main and --config-json need the parsed build");
		return NULL;
	}
	sizes.initialChunkSize = creation->initialChunkSize;
	sizes.incrementalChunkSize = creation->incrementalChunkSize;
	sizes.initialHeapCount = creation->initialHeapCount;
	sizes.incrementalHeapCount = creation->incrementalHeapCount;
	sizes.stackCount = creation->stackCount;
	sizes.staticSize = 0;
#if XS_MAJOR_VERSION >= 17
	sizes.nativeStackSize = creation->nativeStackSize;
#endif
	machine = xsPrepareMachine(&sizes, prepared, "efuse-attest", NULL, NULL);
	if (!machine)
		snprintf(err, errlen, "cannot create the XS machine from the archive (XS %d.%d expected)",
			((txPreparation *)prepared)->version[0], ((txPreparation *)prepared)->version[1]);
	return machine;
}

/* ---- boot ---- */

static int pending;

static void setup_done(txMachine *the)
{
	(void)the;
	pending--;
}

/* As modRunMachineSetup does: each "setup/…" module of the archive, in its order, imported at once
   (xsAwaitImport: the firmware's own Promise may be dead-stripped) and its default export called with a
   function the module calls once done; when all are, "main" is imported (xsImportNow) and its
   default export, when a function, called. */
int program_boot(char *err, size_t errlen)
{
	txPreparation *p = machine->preparation;
	const char *volatile step = "main";
	volatile int failed = 0;

	pending = 0;
	xsBeginHost(machine);
	{
		xsTry {
			xsVars(2);
			xsVar(1) = xsNewHostFunction(setup_done, 0);
			for (txInteger i = 0; i < p->scriptCount; i++) {
				if (c_strncmp(p->scripts[i].path, "setup/", 6))
					continue;
				step = p->scripts[i].path;
				xsVar(0) = xsAwaitImport(step, XS_IMPORT_DEFAULT);
				if (xsTest(xsVar(0)) && xsIsInstanceOf(xsVar(0), xsFunctionPrototype)) {
					pending++;
					xsCallFunction1(xsVar(0), xsGlobal, xsVar(1));
				}
			}
			step = "main";
			if (pending == 0) {
				xsVar(0) = xsImportNow(step);
				xsVar(0) = xsGet(xsVar(0), xsID("default"));
				if (xsTest(xsVar(0)) && xsIsInstanceOf(xsVar(0), xsFunctionPrototype))
					xsCallFunction0(xsVar(0), xsGlobal);
			}
		}
		xsCatch {
			snprintf(err, errlen, "the firmware failed while %s \"%s\": %s", c_strcmp(step, "main") ? "setting up with" : "starting",
				step, xsToString(xsException));
			xsException = xsUndefined;
			failed = 1;
		}
	}
	xsEndHost(machine);
	if (machine->abortStatus) {
		snprintf(err, errlen, "the firmware aborted while %s \"%s\"", c_strcmp(step, "main") ? "setting up with" : "starting", step);
		return -1;
	}
	if (failed)
		return -1;
	if (pending > 0) {
		snprintf(err, errlen, "%d setup module(s) did not call their done function: \"main\" does not start", pending);
		return -1;
	}
	engine_run_jobs();
	return machine->abortStatus ? -1 : 0;
}

void program_release(void)
{
	machine = NULL;
}

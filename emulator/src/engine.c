/*
 * The XS machine of the emulator: the platform hooks the engine requires (fxAbort, machine
 * platform, promise job queue, a debugger transport that is never connected), the one global the
 * firmware gets besides the language (trace), running the entry module, delivering event callbacks
 * and reading the engine's own memory counters for the stats line.
 *
 * A board runs one machine and restarts it on reset; so does this file (engine_start/engine_stop).
 * Fatal engine aborts (memory full, stack overflow) end in a reset on a board, here the event loop
 * sees engine_aborted() and restarts the machine.
 */
#include "xsAll.h"
#include "xs.h"
#include "emu.h"

static txMachine *machine;
static uint64_t callbackErrors;
/* An exception escaped an event callback: on a board Moddable's runtime reports it and restarts the
   chip (a boot loop when it happens at every boot), so the event loop resets here too. */
static bool panicked;
static uint64_t resets;

/* Outcome of importing the entry module. */
static enum { MAIN_PENDING, MAIN_FULFILLED, MAIN_REJECTED } mainState;
static char mainError[2048];

/* Device-like sizes that grow on demand: the stats then show what the firmware really uses. */
static const txCreation creation = {
	.initialChunkSize = 32 * 1024,
	.incrementalChunkSize = 16 * 1024,
	.initialHeapCount = 4096,
	.incrementalHeapCount = 2048,
	.stackCount = 2048,
	.initialKeyCount = 2048,
	.incrementalKeyCount = 1024,
	.nameModulo = 1993,
	.symbolModulo = 127,
	.parserBufferSize = 64 * 1024,
	.parserTableModulo = 1993,
	.staticSize = 0,
#if XS_MAJOR_VERSION >= 17
	.nativeStackSize = 0, /* the engine's default: this process's C stack is a desktop one */
#endif
};

/* ---- describing exceptions ---- */

/* The exception as one line of text (its stack trace when it has one), copied out of the engine
   at once. Static storage: it survives the longjmp of a nested exception unclobbered. */
static char described[2048];

static const char *describe(txMachine *the, txSlot *exception)
{
	described[0] = 0;
	mxTry(the) {
		if (mxIsReference(exception)) {
			mxPushSlot(exception);
			mxGetID(mxID(_stack));
			if ((the->stack->kind == XS_STRING_KIND) || (the->stack->kind == XS_STRING_X_KIND))
				snprintf(described, sizeof(described), "%s", the->stack->value.string);
			mxPop();
		}
		if (!described[0]) {
			mxPushSlot(exception);
			snprintf(described, sizeof(described), "%s", fxToString(the, the->stack));
			mxPop();
		}
	}
	mxCatch(the) {
		snprintf(described, sizeof(described), "(an exception that cannot be converted to a string)");
	}
	/* one line per report: "Error: message; at f (file:line); at ..." */
	for (char *p = described; *p; p++) {
		if (*p == '\n')
			*p = p[1] ? ';' : 0;
	}
	return described;
}

/* ---- platform hooks ---- */

static const char *abort_reason(int status)
{
	switch (status) {
#if XS_MAJOR_VERSION < 17
	case XS_STACK_OVERFLOW_EXIT: return "stack overflow";
#else
	case XS_JAVASCRIPT_STACK_OVERFLOW_EXIT: return "stack overflow";
	case XS_NATIVE_STACK_OVERFLOW_EXIT: return "native stack overflow";
#endif
	case XS_NOT_ENOUGH_MEMORY_EXIT: return "memory full";
	case XS_NO_MORE_KEYS_EXIT: return "not enough keys";
	case XS_TOO_MUCH_COMPUTATION_EXIT: return "too much computation";
	case XS_DEAD_STRIP_EXIT: return "dead strip";
	case XS_FATAL_CHECK_EXIT: return "fatal check";
	case XS_DEBUGGER_EXIT: return "debugger exit";
	default: return "unknown abort";
	}
}

void fxAbort(txMachine *the, int status)
{
	const char *text;
	switch (status) {
	case XS_UNHANDLED_EXCEPTION_EXIT:
	case XS_UNHANDLED_REJECTION_EXIT:
		if (the->abortStatus)
			return; /* unwinding from a fatal abort, already reported */
		text = describe(the, &mxException);
		mxException = mxUndefined;
		emu_log("%s: %s", status == XS_UNHANDLED_REJECTION_EXIT ? "unhandled rejection" : "uncaught exception", text);
		callbackErrors++;
		return;
	default:
		emu_log("fatal: %s; the chip resets", abort_reason(status));
		the->abortStatus = status;
		fxExitToHost(the);
	}
}

void fxCreateMachinePlatform(txMachine *the)
{
	the->abortStatus = 0;
	the->promiseJobs = 0;
}

void fxDeleteMachinePlatform(txMachine *the)
{
	(void)the;
}

void fxQueuePromiseJobs(txMachine *the)
{
	the->promiseJobs = 1;
}

/* mxDebug is on for line numbers in stack traces; xsbug never connects (a release build owns
   UART0 for the firmware, DESIGN.md). */
void fxConnect(txMachine *the) { (void)the; }
void fxDisconnect(txMachine *the) { (void)the; }
txBoolean fxIsConnected(txMachine *the) { (void)the; return 0; }
txBoolean fxIsReadable(txMachine *the) { (void)the; return 0; }
void fxReceive(txMachine *the) { (void)the; }
void fxSend(txMachine *the, txBoolean more) { (void)the; (void)more; }

/* ---- globals ---- */

/* trace(...values): console text on UART0, as a release build prints it; echoed to stderr with
   --verbose. */
static void xs_trace(xsMachine *the)
{
	xsIntegerValue c = xsToInteger(xsArgc);
	for (xsIntegerValue i = 0; i < c; i++) {
		const char *text = xsToString(xsArg(i));
		size_t length = strlen(text);
		uart_console(text, length);
		if (emu_opts.verbose)
			fwrite(text, 1, length, stderr);
	}
}

/* ---- running ---- */

void engine_run_jobs(void)
{
	while (machine && machine->promiseJobs && !machine->abortStatus) {
		xsBeginHost(machine);
		{
			the->promiseJobs = 0;
			fxRunPromiseJobs(the);
		}
		xsEndHost(machine);
	}
}

static void main_fulfilled(txMachine *the)
{
	(void)the;
	mainState = MAIN_FULFILLED;
}

static void main_rejected(txMachine *the)
{
	snprintf(mainError, sizeof(mainError), "%s", describe(the, mxArgv(0)));
	mainState = MAIN_REJECTED;
}

/* import(name).then(fulfilled, rejected), then the promise jobs: MAIN_PENDING afterwards means the
   module awaits something (top-level await), which is fine. */
int engine_import(const char *name, const char *what, char *err, size_t errlen)
{
	mainState = MAIN_PENDING;
	mainError[0] = 0;
	xsBeginHost(machine);
	{
		txSlot *realm = mxProgram.value.reference->next->value.module.realm;
		mxPushStringC((txString)name);
#if XS_MAJOR_VERSION >= 17
		mxPushUndefined(); /* import options */
		fxRunImport(the, realm, C_NULL);
#else
		fxRunImport(the, realm, XS_NO_ID);
#endif
		mxDub();
		fxGetID(the, mxID(_then));
		mxCall();
		fxNewHostFunction(the, main_fulfilled, 1, XS_NO_ID, XS_NO_ID);
		fxNewHostFunction(the, main_rejected, 1, XS_NO_ID, XS_NO_ID);
		mxRunCount(2);
		mxPop();
	}
	xsEndHost(machine);
	engine_run_jobs();

	if (machine->abortStatus) {
		snprintf(err, errlen, "the firmware aborted while %s \"%s\" (%s)", what, name, abort_reason(machine->abortStatus));
		return -1;
	}
	if (mainState == MAIN_REJECTED) {
		snprintf(err, errlen, "the firmware failed while %s \"%s\": %s", what, name, mainError);
		return -1;
	}
	return 0;
}

/* The machine as the device has it at power-on, then what the device runs up to "main" (program_create
   and program_boot: the parsed or the linked build's own file). */
int engine_start(char *err, size_t errlen)
{
	machine = program_create(&creation, err, errlen);
	if (!machine)
		return -1;
	panicked = false;
	xsBeginHost(machine);
	{
		xsVars(1);
		xsVar(0) = xsNewHostFunction(xs_trace, 1);
		xsDefine(xsGlobal, xsID("trace"), xsVar(0), xsDontEnum);
	}
	xsEndHost(machine);
	return program_boot(err, errlen);
}

void engine_stop(void)
{
	if (machine) {
		/* Host objects' destructors run here (serial.c unregisters its UART). */
		xsDeleteMachine(machine);
		machine = NULL;
		program_release();
	}
}

bool engine_running(void)
{
	return machine != NULL;
}

bool engine_aborted(void)
{
	return machine && (machine->abortStatus || panicked);
}

void engine_count_reset(void)
{
	resets++;
}

void engine_callback(void (*body)(void *the, void *context), void *context)
{
	if (!machine || machine->abortStatus || panicked)
		return;
	xsBeginHost(machine);
	{
		xsTry {
			body(the, context);
		}
		xsCatch {
			emu_log("exception in a callback: %s; the chip resets", describe(the, &xsException));
			xsException = xsUndefined;
			callbackErrors++;
			panicked = true;
		}
	}
	xsEndHost(machine);
	engine_run_jobs();
}

void engine_stats(emu_stats *stats)
{
	memset(stats, 0, sizeof(*stats));
	if (machine && !machine->abortStatus) {
		xsBeginHost(machine);
		{
			xsCollectGarbage();
		}
		xsEndHost(machine);
		stats->chunkBytes = (uint64_t)machine->currentChunksSize;
		stats->chunkPeak = (uint64_t)machine->peakChunksSize;
		stats->slotBytes = (uint64_t)machine->currentHeapCount * sizeof(txSlot);
		stats->slotPeak = (uint64_t)machine->peakHeapCount * sizeof(txSlot);
		stats->heapCount = (uint64_t)machine->currentHeapCount;
	}
	stats->callbackErrors = callbackErrors;
	stats->bytesIn = uart_bytes_in();
	stats->bytesOut = uart_bytes_out();
	stats->rxLost = uart_rx_lost();
	stats->resets = resets;
}

/*
 * XS platform header of the emulator (selected with -DXSPLATFORM="emu_platform.h").
 * It tells the engine what this host provides: a Linux process with one machine, no threads,
 * no debugger connection, and no console on stdout (stdout carries only the "PTY ..." line the
 * Node launcher reads, so every engine report is redirected to stderr).
 */
#ifndef EMU_PLATFORM_H
#define EMU_PLATFORM_H

#if !defined(__GNUC__) || !defined(__linux__)
	#error "the emulator builds with GCC or Clang on Linux"
#endif

#undef mxLittleEndian
#define mxLittleEndian 1
#undef mxLinux
#define mxLinux 1
#define XS_FUNCTION_NORETURN __attribute__((noreturn))

#include <ctype.h>
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <limits.h>
#include <pthread.h>   /* fxCStackLimit reads the C stack bounds with pthread_getattr_np */
#include <unistd.h>

/*
 * Per-machine state the embedding keeps inside txMachine (see engine.c):
 * abortStatus records a fatal engine abort (memory full, stack overflow) so the event loop can
 * reset the machine as the chip's panic handler would; promiseJobs is set by fxQueuePromiseJobs.
 */
#define mxMachinePlatform \
	int abortStatus; \
	int promiseJobs;

/* Defaults from xsPlatforms.c that fit a desktop host. The emulator supplies fxAbort,
   fxCreateMachinePlatform, fxDeleteMachinePlatform, fxQueuePromiseJobs, fxFindModule,
   fxLoadModule and the (never connected) debugger transport itself. */
#define mxUseDefaultBuildKeys 1
#define mxUseDefaultChunkAllocation 1
#define mxUseDefaultSlotAllocation 1
#define mxUseDefaultParseScript 1
#define mxUseDefaultSharedChunks 1

/* Engine text never goes to stdout. */
#define c_printf(...) fprintf(stderr, __VA_ARGS__)
#define c_vprintf(FORMAT, ARGUMENTS) vfprintf(stderr, FORMAT, ARGUMENTS)

#endif /* EMU_PLATFORM_H */

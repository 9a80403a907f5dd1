/*
 * Internal interfaces of the emulator runtime, one section per file:
 * uart.c (the pseudo-terminal that stands in for the chip's UART), boot.c (chips and ROM boot text),
 * engine.c (the XS machine: create, run, callbacks, stats), program_parsed.c (the firmware parsed
 * from its modules at boot) or program_linked.c (the firmware from xsl's preloaded archive),
 * modules.c (module resolution and loading, host-function binding, parsed build), linkmap.c (the
 * modules the manifests name), serial.c (the embedded:io/serial
 * host functions), main.c (CLI, event loop).
 */
#ifndef EMU_H
#define EMU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define EMU_NAME "efuse-attest-emu"

/* ---- options shared by the runtime (set once by main.c) ---- */

typedef struct {
	const char *chip;        /* "esp32s3", ... */
	const char *root;        /* repository root, absolute */
	const char *main;        /* --main: a file that replaces the module named "main", or NULL */
	const char *linkmap;     /* the link map, absolute */
	const char *configJson;  /* --config-json text, or NULL */
	bool verbose;
} emu_options;

extern emu_options emu_opts;

/* Prints "efuse-attest-emu: <message>" on stderr. */
void emu_log(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* ---- linkmap.c ---- */

/* Reads the link map; -1 with a message in err when it cannot, or when the target does not build. */
int linkmap_load(const char *path, char *err, size_t errlen);
/* The file of the module with this manifest name, or NULL. */
const char *linkmap_file(const char *name);
/* Makes name refer to file (--main). */
void linkmap_override(const char *name, const char *file);
size_t linkmap_preload_count(void);
const char *linkmap_preload(size_t index);
/* The target's mc/config as JSON text. */
const char *linkmap_config(void);
const char *linkmap_platform(void);

/* ---- uart.c ---- */

/* The chip's UART FIFOs (ESP32-family: 128 bytes each) and the RX interrupt threshold Moddable's
   serial sets; "the wire" holds what the host sent and the FIFO has not taken yet. */
#define UART_TX_BUDGET 128
#define UART_RX_FIFO 128
#define UART_RX_THRESHOLD 96
#define UART_WIRE_SIZE 65536

int uart_open(const char *link, char *err, size_t errlen);
void uart_close(void);
const char *uart_slave_path(void);
int uart_master_fd(void);

/* Bytes the firmware can write now (UART_TX_BUDGET minus what is still queued). */
size_t uart_tx_free(void);
/* Queues serial bytes; the caller has checked uart_tx_free(). */
void uart_tx_write(const uint8_t *data, size_t count);
/* Queues console text (boot ROM, trace); dropped when the console share of the queue is full. */
void uart_console(const char *text, size_t count);
bool uart_tx_pending(void);
/* Writes queued bytes to the pty; returns how many serial (budgeted) bytes left the queue. */
size_t uart_flush(void);
/* Drops everything queued (a reset cuts the transmission short). */
void uart_tx_discard(void);

/* Bytes in the RX FIFO. */
size_t uart_rx_available(void);
/* Room on the wire for what the pty holds. */
size_t uart_rx_room(void);
/* Bytes on the wire that the FIFO has not taken. */
bool uart_rx_waiting(void);
size_t uart_rx_take(uint8_t *data, size_t count);
/* Reads what the host sent onto the wire; returns bytes added (0 when nothing or no room). */
size_t uart_rx_fill(void);
/* Moves bytes from the wire into the FIFO up to the interrupt threshold, or, when the firmware did
   not read at its last call (stalled), all of them, losing those that find the FIFO full. */
size_t uart_rx_feed(bool stalled);
void uart_rx_clear(void);
/* Incremented on every uart_rx_feed that moved bytes into the FIFO. */
uint64_t uart_rx_arrivals(void);
/* Bytes lost to a full RX FIFO. */
uint64_t uart_rx_lost(void);

uint64_t uart_bytes_in(void);
uint64_t uart_bytes_out(void);

/* ---- boot.c ---- */

typedef struct emu_chip emu_chip;
typedef enum { BOOT_POWERON, BOOT_SW_RESET, BOOT_PANIC } emu_boot_reason;

const emu_chip *chip_find(const char *name);
/* Comma-separated list of chip names, for messages. */
const char *chip_names(void);
void boot_banner(const emu_chip *chip, emu_boot_reason reason);

/* ---- variant.c (compiled once per chip) ---- */

/* The chip this binary is built for (CONFIG_IDF_TARGET). */
extern const char *const emu_target;

/* ---- engine.c ---- */

typedef struct {
	uint64_t chunkBytes, chunkPeak, slotBytes, slotPeak, heapCount;
	uint64_t callbackErrors, bytesIn, bytesOut, resets, rxLost;
} emu_stats;

/* Creates the machine (program_create) and boots the firmware in it up to and including "main"
   (program_boot); 0 on success, else -1 with a message in err. */
int engine_start(char *err, size_t errlen);
/* import(name) in the running machine, then the promise jobs; -1 with a message in err (saying what
   was being done) when it rejects or the machine aborts. */
int engine_import(const char *name, const char *what, char *err, size_t errlen);
/* Runs the promise jobs that are due. */
void engine_run_jobs(void);
void engine_stop(void);
bool engine_running(void);
/* A fatal engine abort (memory full, stack overflow) happened, or an exception escaped a callback:
   the chip resets. */
bool engine_aborted(void);
/* Live numbers after a garbage collection (zeros for the machine fields when none is running). */
void engine_stats(emu_stats *stats);
void engine_count_reset(void);
/* Runs body inside the machine as an event callback would: an exception that escapes is reported
   and counted and makes engine_aborted() true (the chip resets); promise jobs run afterwards. */
void engine_callback(void (*body)(void *the, void *context), void *context);

/* ---- program_parsed.c or program_linked.c: how the machine gets the firmware (one per build) ---- */

struct sxMachine;
struct sxCreation;

/* A new machine with the firmware in it, or NULL with a message in err. */
struct sxMachine *program_create(const struct sxCreation *creation, char *err, size_t errlen);
/* What the device does once its machine is created, up to and including importing "main"; -1 with a
   message in err when the firmware fails or the machine aborts. */
int program_boot(char *err, size_t errlen);
/* After the machine is deleted: frees what its modules kept. */
void program_release(void);

/* The module that freezes the built-ins after the preloads, as xsl does (emulator/modules). */
#define FREEZE_MODULE "emulator:freeze-builtins"

/* ---- modules.c ---- */

/* Frees what the machine's modules kept (host function builders); after the machine is deleted. */
void modules_release(void);

/* ---- serial.c ---- */

/* Delivers pending onReadable/onWritable callbacks to the open Serial instance, if any; true when
   more is due at once (bytes remain after a callback that read some). */
bool serial_service(void);
/* Output bytes left the TX ring: onWritable is due. */
void serial_drained(void);

#endif /* EMU_H */

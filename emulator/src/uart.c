/*
 * The chip's UART as a pseudo-terminal. The host opens the slave side (/dev/pts/N) with the real
 * `serialport` package exactly as it opens a USB bridge; the emulator owns the master side.
 *
 * Modelled as the chip's UART under Moddable's ECMA-419 serial, which drives the hardware FIFOs
 * directly (no IDF driver ring):
 * Transmit: one byte queue carries, in order, the serial bytes the firmware writes and console text
 * (boot ROM, trace) — on a board both leave through UART0. Only serial bytes count against the
 * firmware's budget, the 128-byte TX FIFO (UART_TX_BUDGET); console text has its own share and is
 * dropped when that is full, as a console with no listener loses output. The line drains the FIFO as
 * fast as the pty takes it, so onWritable always finds it empty (a board calls it at <= 10 left).
 * Receive: the bytes the host sent wait on "the wire" (what the pty holds) and enter the 128-byte RX
 * FIFO (UART_RX_FIFO) in order; the firmware is called when the FIFO reaches the interrupt threshold
 * (UART_RX_THRESHOLD, 96) or the line goes idle (the timeout interrupt). There is no backpressure:
 * when the firmware did not read at its last call, bytes keep arriving, and those that find the FIFO
 * full are lost (counted in rxLost). Time is not modelled: the firmware's work takes no line time, so
 * a firmware that reads at every call never loses bytes here, however slow it would be on a chip.
 */
#include "emu.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#define QUEUE_SIZE (64 * 1024)
#define CONSOLE_SHARE (QUEUE_SIZE - UART_TX_BUDGET)
#define SEGMENT_MAX 4096

typedef struct {
	uint32_t count;
	bool serial;
} segment;

static struct {
	int master;
	int slave;                 /* held open so a host closing the port never hangs up the master */
	char slavePath[64];
	char *link;                /* --link path we created, removed on close */

	uint8_t queue[QUEUE_SIZE];
	size_t head, used;
	size_t serialUsed, consoleUsed;
	segment segments[SEGMENT_MAX];
	size_t segmentHead, segmentCount;

	uint8_t rx[UART_RX_FIFO];
	size_t rxHead, rxUsed;
	uint8_t wire[UART_WIRE_SIZE];
	size_t wireHead, wireUsed;
	uint64_t arrivals, rxLost;

	uint64_t bytesIn, bytesOut;
} uart = { .master = -1, .slave = -1 };

static int fail(char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "%s: %s", what, strerror(errno));
	return -1;
}

static int make_link(const char *link, char *err, size_t errlen)
{
	struct stat st;
	if (lstat(link, &st) == 0) {
		/* Replace a stale link left by an emulator that was killed; never clobber anything else. */
		if (!S_ISLNK(st.st_mode)) {
			snprintf(err, errlen, "--link %s exists and is not a symbolic link", link);
			return -1;
		}
		if (unlink(link) != 0)
			return fail(err, errlen, link);
	}
	if (symlink(uart.slavePath, link) != 0)
		return fail(err, errlen, link);
	uart.link = strdup(link);
	return 0;
}

int uart_open(const char *link, char *err, size_t errlen)
{
	struct termios tio;
	const char *name;

	uart.master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (uart.master < 0)
		return fail(err, errlen, "posix_openpt");
	if (grantpt(uart.master) != 0 || unlockpt(uart.master) != 0)
		return fail(err, errlen, "grantpt/unlockpt");
	name = ptsname(uart.master);
	if (!name || strlen(name) >= sizeof(uart.slavePath))
		return fail(err, errlen, "ptsname");
	strcpy(uart.slavePath, name);

	uart.slave = open(uart.slavePath, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (uart.slave < 0)
		return fail(err, errlen, uart.slavePath);
	/* Raw 8N1, no echo, no line editing: a UART passes bytes. The host sets its own attributes on
	   open; these hold until then. */
	if (tcgetattr(uart.slave, &tio) != 0)
		return fail(err, errlen, "tcgetattr");
	cfmakeraw(&tio);
	tio.c_cflag &= ~(tcflag_t)HUPCL;
	cfsetispeed(&tio, B115200);
	cfsetospeed(&tio, B115200);
	if (tcsetattr(uart.slave, TCSANOW, &tio) != 0)
		return fail(err, errlen, "tcsetattr");

	if (fcntl(uart.master, F_SETFL, fcntl(uart.master, F_GETFL) | O_NONBLOCK) != 0)
		return fail(err, errlen, "fcntl");

	if (link && make_link(link, err, errlen) != 0)
		return -1;
	return 0;
}

void uart_close(void)
{
	if (uart.link) {
		/* Remove the link only if it still points at our pty (another emulator may own it now). */
		char target[sizeof(uart.slavePath)];
		ssize_t n = readlink(uart.link, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = 0;
			if (strcmp(target, uart.slavePath) == 0)
				unlink(uart.link);
		}
		free(uart.link);
		uart.link = NULL;
	}
	if (uart.slave >= 0)
		close(uart.slave);
	if (uart.master >= 0)
		close(uart.master);
	uart.slave = uart.master = -1;
}

const char *uart_slave_path(void)
{
	return uart.slavePath;
}

int uart_master_fd(void)
{
	return uart.master;
}

/* ---- transmit ---- */

static void enqueue(const uint8_t *data, size_t count, bool serial)
{
	size_t tail = (uart.head + uart.used) % QUEUE_SIZE;
	size_t first = count < QUEUE_SIZE - tail ? count : QUEUE_SIZE - tail;
	memcpy(uart.queue + tail, data, first);
	memcpy(uart.queue, data + first, count - first);
	uart.used += count;

	if (uart.segmentCount) {
		segment *last = &uart.segments[(uart.segmentHead + uart.segmentCount - 1) % SEGMENT_MAX];
		if (last->serial == serial) {
			last->count += (uint32_t)count;
			return;
		}
	}
	uart.segments[(uart.segmentHead + uart.segmentCount) % SEGMENT_MAX] = (segment){ (uint32_t)count, serial };
	uart.segmentCount++;
}

size_t uart_tx_free(void)
{
	return UART_TX_BUDGET - uart.serialUsed;
}

void uart_tx_write(const uint8_t *data, size_t count)
{
	if (!count)
		return;
	/* One segment slot is kept for serial bytes (uart_console stops short of it), and the budget
	   check in serial.c keeps serialUsed + count within UART_TX_BUDGET. */
	enqueue(data, count, true);
	uart.serialUsed += count;
}

void uart_console(const char *text, size_t count)
{
	if (!count || uart.consoleUsed + count > CONSOLE_SHARE || uart.segmentCount >= SEGMENT_MAX - 1)
		return;
	enqueue((const uint8_t *)text, count, false);
	uart.consoleUsed += count;
}

bool uart_tx_pending(void)
{
	return uart.used > 0;
}

/* Marks count bytes at the head as sent; returns how many of them were serial bytes. */
static size_t dequeue(size_t count)
{
	size_t serial = 0;
	uart.head = (uart.head + count) % QUEUE_SIZE;
	uart.used -= count;
	while (count) {
		segment *s = &uart.segments[uart.segmentHead];
		size_t n = count < s->count ? count : s->count;
		if (s->serial) {
			serial += n;
			uart.serialUsed -= n;
		}
		else
			uart.consoleUsed -= n;
		s->count -= (uint32_t)n;
		count -= n;
		if (!s->count) {
			uart.segmentHead = (uart.segmentHead + 1) % SEGMENT_MAX;
			uart.segmentCount--;
		}
	}
	return serial;
}

size_t uart_flush(void)
{
	size_t serial = 0;
	while (uart.used) {
		size_t chunk = uart.used < QUEUE_SIZE - uart.head ? uart.used : QUEUE_SIZE - uart.head;
		ssize_t n = write(uart.master, uart.queue + uart.head, chunk);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break; /* EAGAIN: the pty is full, poll() says when it drains */
		}
		if (n == 0)
			break;
		uart.bytesOut += (uint64_t)n;
		serial += dequeue((size_t)n);
	}
	return serial;
}

void uart_tx_discard(void)
{
	uart.head = uart.used = 0;
	uart.serialUsed = uart.consoleUsed = 0;
	uart.segmentHead = uart.segmentCount = 0;
}

/* ---- receive ---- */

size_t uart_rx_available(void)
{
	return uart.rxUsed;
}

size_t uart_rx_room(void)
{
	return UART_WIRE_SIZE - uart.wireUsed;
}

bool uart_rx_waiting(void)
{
	return uart.wireUsed > 0;
}

size_t uart_rx_take(uint8_t *data, size_t count)
{
	size_t taken = 0;
	if (count > uart.rxUsed)
		count = uart.rxUsed;
	while (taken < count) {
		size_t chunk = UART_RX_FIFO - uart.rxHead;
		if (chunk > count - taken)
			chunk = count - taken;
		memcpy(data + taken, uart.rx + uart.rxHead, chunk);
		uart.rxHead = (uart.rxHead + chunk) % UART_RX_FIFO;
		uart.rxUsed -= chunk;
		taken += chunk;
	}
	return taken;
}

size_t uart_rx_fill(void)
{
	size_t added = 0;
	while (uart.wireUsed < UART_WIRE_SIZE) {
		size_t tail = (uart.wireHead + uart.wireUsed) % UART_WIRE_SIZE;
		size_t room = UART_WIRE_SIZE - uart.wireUsed;
		size_t chunk = room < UART_WIRE_SIZE - tail ? room : UART_WIRE_SIZE - tail;
		ssize_t n = read(uart.master, uart.wire + tail, chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* EAGAIN, or EIO while no one has the slave open (not here: we hold it) */
		uart.wireUsed += (size_t)n;
		uart.bytesIn += (uint64_t)n;
		added += (size_t)n;
		if ((size_t)n < chunk)
			break; /* the pty had no more: poll() says when there is, rather than a read into EAGAIN */
	}
	return added;
}

size_t uart_rx_feed(bool stalled)
{
	size_t moved = 0;
	while (uart.wireUsed && (stalled || uart.rxUsed < UART_RX_THRESHOLD)) {
		uint8_t byte = uart.wire[uart.wireHead];
		uart.wireHead = (uart.wireHead + 1) % UART_WIRE_SIZE;
		uart.wireUsed--;
		if (uart.rxUsed == UART_RX_FIFO) {
			uart.rxLost++;
			continue;
		}
		uart.rx[(uart.rxHead + uart.rxUsed) % UART_RX_FIFO] = byte;
		uart.rxUsed++;
		moved++;
	}
	if (moved)
		uart.arrivals++;
	return moved;
}

void uart_rx_clear(void)
{
	uart.rxHead = uart.rxUsed = 0;
	uart.wireHead = uart.wireUsed = 0;
}

uint64_t uart_rx_lost(void)
{
	return uart.rxLost;
}

uint64_t uart_rx_arrivals(void)
{
	return uart.arrivals;
}

uint64_t uart_bytes_in(void)
{
	return uart.bytesIn;
}

uint64_t uart_bytes_out(void)
{
	return uart.bytesOut;
}

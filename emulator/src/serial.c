/*
 * Host functions of embedded:io/serial (emulator/modules/serial.js) over the emulator's UART
 * (uart.c). One instance can be open at a time: the emulated chip has one UART wired to the pty.
 *
 * As on a board, onWritable reports the room in the TX FIFO (UART_TX_BUDGET at most) and a write() of
 * more than that room throws; onReadable(count) is called when the RX FIFO reaches its threshold or
 * the line goes idle (uart.c), and again while bytes remain if the callback read some. Bytes received
 * while no instance is open are lost, as a UART nobody drives loses them.
 */
#include "xsmc.h"
#include "emu.h"

#include <math.h>
#include <stdlib.h>

enum { FORMAT_NUMBER, FORMAT_BUFFER };

typedef struct {
	xsSlot obj;          /* remembered while open: the instance stays alive without a JS reference */
	xsSlot onReadable;   /* marked by serial_mark */
	xsSlot onWritable;
	bool hasReadable;
	bool hasWritable;
	uint8_t format;
	int port;
	int baud;
	uint64_t seenArrivals; /* uart_rx_arrivals() at the last onReadable */
	bool readSome;         /* read() took bytes since the last onReadable */
	bool stalled;          /* the last onReadable read nothing: the FIFO fills and overflows */
	bool writableDue;      /* output left the TX ring: onWritable is owed */
} emu_serial;

static emu_serial *openSerial;

void xs_serial_destructor(void *data);
static void serial_mark(xsMachine *the, void *it, xsMarkRoot markRoot);

static const xsHostHooks serialHooks = {
	xs_serial_destructor,
	serial_mark,
	NULL,
};

static void serial_mark(xsMachine *the, void *it, xsMarkRoot markRoot)
{
	emu_serial *serial = it;
	if (serial->hasReadable)
		(*markRoot)(the, &serial->onReadable);
	if (serial->hasWritable)
		(*markRoot)(the, &serial->onWritable);
}

/* The receiver must be a Serial made by this file (hooks compared) and still open. */
static emu_serial *serial_this(xsMachine *the)
{
	emu_serial *serial = xsmcGetHostDataValidate(xsThis, (void *)&serialHooks);
	if (!serial)
		xsUnknownError("closed");
	return serial;
}

/* options[name] as an integer in [min, max]; fallback when absent (or -1 to require it). */
static int option_integer(xsMachine *the, const char *name, int fallback, int min, int max)
{
	xsNumberValue value;
	xsmcGet(xsVar(0), xsArg(0), xsID(name));
	if (xsmcTypeOf(xsVar(0)) == xsUndefinedType) {
		if (fallback < 0)
			xsRangeError("options.%s is required", name);
		return fallback;
	}
	if (xsmcTypeOf(xsVar(0)) != xsIntegerType && xsmcTypeOf(xsVar(0)) != xsNumberType)
		xsTypeError("options.%s must be a number", name);
	value = xsmcToNumber(xsVar(0));
	if (!(value >= min && value <= max) || value != floor(value))
		xsRangeError("invalid %s", name);
	return (int)value;
}

/* options[name] as a callback slot; false when absent. */
static bool option_callback(xsMachine *the, const char *name, xsSlot *slot)
{
	xsmcGet(xsVar(0), xsArg(0), xsID(name));
	if (xsmcTypeOf(xsVar(0)) == xsUndefinedType || xsmcTypeOf(xsVar(0)) == xsNullType)
		return false;
	if (!xsmcIsCallable(xsVar(0)))
		xsTypeError("options.%s must be a function", name);
	*slot = xsVar(0);
	return true;
}

static uint8_t parse_format(xsMachine *the, xsSlot *value)
{
	const char *format;
	if (xsmcTypeOf(*value) != xsStringType)
		xsTypeError("format must be a string");
	format = xsmcToString(*value);
	if (!strcmp(format, "number"))
		return FORMAT_NUMBER;
	if (!strcmp(format, "buffer"))
		return FORMAT_BUFFER;
	xsRangeError("invalid format");
	return FORMAT_NUMBER;
}

void xs_serial_constructor(xsMachine *the)
{
	emu_serial settings = { 0 };
	emu_serial *serial;
	int receive, transmit;

	xsmcVars(1);
	if (xsmcArgc < 1 || xsmcTypeOf(xsArg(0)) != xsReferenceType)
		xsTypeError("options must be an object");

	settings.port = option_integer(the, "port", 0, 0, 2);
	settings.baud = option_integer(the, "baud", -1, 1, 20000000);
	receive = option_integer(the, "receive", 1 << 16, 0, 1 << 16);
	transmit = option_integer(the, "transmit", 1 << 16, 0, 1 << 16);
	if (receive == 1 << 16 && transmit == 1 << 16)
		xsRangeError("options.receive or options.transmit is required");
	settings.format = FORMAT_NUMBER;
	xsmcGet(xsVar(0), xsArg(0), xsID("format"));
	if (xsmcTypeOf(xsVar(0)) != xsUndefinedType)
		settings.format = parse_format(the, &xsVar(0));
	settings.hasReadable = option_callback(the, "onReadable", &settings.onReadable);
	settings.hasWritable = option_callback(the, "onWritable", &settings.onWritable);

	if (openSerial)
		xsUnknownError("port in use");
	serial = malloc(sizeof(*serial));
	if (!serial)
		xsUnknownError("no memory");
	*serial = settings;
	xsmcSetHostData(xsThis, serial);
	xsSetHostHooks(xsThis, &serialHooks);
	serial->obj = xsThis;
	xsRemember(serial->obj);

	xsmcGet(xsVar(0), xsArg(0), xsID("target"));
	if (xsmcTypeOf(xsVar(0)) != xsUndefinedType)
		xsmcSet(xsThis, xsID("target"), xsVar(0));

	/* A UART starts receiving when its driver is installed; earlier bytes are gone. */
	uart_rx_clear();
	serial->seenArrivals = uart_rx_arrivals();
	/* The TX ring is empty: a board's TX-empty interrupt fires at once. */
	serial->writableDue = serial->hasWritable;
	openSerial = serial;
}

void xs_serial_destructor(void *data)
{
	emu_serial *serial = data;
	if (!serial)
		return;
	if (openSerial == serial)
		openSerial = NULL;
	free(serial);
}

void xs_serial_close(xsMachine *the)
{
	emu_serial *serial = xsmcGetHostDataValidate(xsThis, (void *)&serialHooks);
	if (!serial)
		return; /* closing twice is allowed */
	xsmcSetHostData(xsThis, NULL);
	xsForget(serial->obj);
	xs_serial_destructor(serial);
}

void xs_serial_read(xsMachine *the)
{
	emu_serial *serial = serial_this(the);
	size_t available = uart_rx_available();
	size_t requested = available;
	uint8_t byte;

	if (serial->format == FORMAT_NUMBER) {
		if (!available)
			return;
		uart_rx_take(&byte, 1);
		serial->readSome = true;
		xsmcSetInteger(xsResult, byte);
		return;
	}

	if (xsmcArgc > 0 && xsmcTypeOf(xsArg(0)) == xsReferenceType) {
		/* read(buffer): into the caller's memory, no allocation between lookup and copy */
		void *data;
		xsUnsignedValue size;
		size_t taken;
		xsmcGetBufferWritable(xsArg(0), &data, &size);
		taken = uart_rx_take(data, size);
		serial->readSome |= taken > 0;
		xsmcSetInteger(xsResult, (xsIntegerValue)taken);
		return;
	}
	if (xsmcArgc > 0 && xsmcTypeOf(xsArg(0)) != xsUndefinedType) {
		xsNumberValue count = xsmcToNumber(xsArg(0));
		if (!(count >= 0) || count != floor(count))
			xsRangeError("invalid count");
		if (count < (xsNumberValue)requested)
			requested = (size_t)count;
	}
	if (!available)
		return;
	xsmcSetArrayBuffer(xsResult, NULL, (xsIntegerValue)requested);
	uart_rx_take(xsmcToArrayBuffer(xsResult), requested);
	serial->readSome |= requested > 0;
}

void xs_serial_write(xsMachine *the)
{
	emu_serial *serial = serial_this(the);
	size_t room = uart_tx_free();

	if (xsmcArgc < 1)
		xsTypeError("nothing to write");
	if (serial->format == FORMAT_NUMBER) {
		xsIntegerValue value = xsmcToInteger(xsArg(0));
		uint8_t byte = (uint8_t)value;
		if (value < 0 || value > 255)
			xsRangeError("invalid byte");
		if (!room)
			xsUnknownError("output full");
		uart_tx_write(&byte, 1);
	}
	else {
		void *data;
		xsUnsignedValue count;
		xsmcGetBufferReadable(xsArg(0), &data, &count);
		if (count > room)
			xsUnknownError("output full: %u bytes, %u free", (unsigned)count, (unsigned)room);
		uart_tx_write(data, count);
	}
}

void xs_serial_get_format(xsMachine *the)
{
	emu_serial *serial = serial_this(the);
	xsmcSetString(xsResult, serial->format == FORMAT_BUFFER ? "buffer" : "number");
}

void xs_serial_set_format(xsMachine *the)
{
	emu_serial *serial = serial_this(the);
	if (xsmcArgc < 1)
		xsTypeError("format must be a string");
	serial->format = parse_format(the, &xsArg(0));
}

/* ---- event delivery (called by the event loop, outside the machine) ---- */

static void call_readable(void *machine, void *context)
{
	xsMachine *the = machine;
	emu_serial *serial = context;
	xsCallFunction1(serial->onReadable, serial->obj, xsInteger((xsIntegerValue)uart_rx_available()));
}

static void call_writable(void *machine, void *context)
{
	xsMachine *the = machine;
	emu_serial *serial = context;
	xsCallFunction1(serial->onWritable, serial->obj, xsInteger((xsIntegerValue)uart_tx_free()));
}

bool serial_service(void)
{
	emu_serial *serial = openSerial;
	if (!serial) {
		uart_rx_clear(); /* nobody drives the UART: received bytes are lost */
		return false;
	}
	uart_rx_feed(serial->stalled);
	if (serial->hasReadable && uart_rx_available() &&
	    (uart_rx_arrivals() != serial->seenArrivals || serial->readSome)) {
		serial->seenArrivals = uart_rx_arrivals();
		serial->readSome = false;
		engine_callback(call_readable, serial);
		serial = openSerial; /* the callback may have closed it */
		if (!serial)
			return false;
		serial->stalled = !serial->readSome;
	}
	if (serial->hasWritable && serial->writableDue && uart_tx_free()) {
		serial->writableDue = false;
		engine_callback(call_writable, serial);
		serial = openSerial;
		if (!serial)
			return false;
	}
	/* more to deliver without waiting for the pty: bytes on the wire, or left after a callback that
	   read some */
	return uart_rx_waiting() || (serial->hasReadable && uart_rx_available() && serial->readSome);
}

void serial_drained(void)
{
	if (openSerial)
		openSerial->writableDue = true;
}

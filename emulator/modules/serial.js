/*
 * embedded:io/serial for the emulator: the ECMA-419 Serial class over the emulator's
 * pseudo-terminal, which stands in for the chip's UART. The host functions are in
 * emulator/src/serial.c; this is the same shape as Moddable's modules/io/serial.
 *
 * new Serial({ port, baud, receive, transmit, format: "number" | "buffer", onReadable, onWritable, target })
 * read()            "buffer": ArrayBuffer of the bytes available, or undefined; "number": one byte
 * read(count)       up to count bytes
 * read(buffer)      fills an ArrayBuffer or view, returns how many bytes
 * write(value)      an ArrayBuffer, view or byte; more than the last onWritable budget throws
 * close()
 */
class Serial @ "xs_serial_destructor" {
	constructor(options) @ "xs_serial_constructor";
	close() @ "xs_serial_close";
	read(count) @ "xs_serial_read";
	write(value) @ "xs_serial_write";
	get format() @ "xs_serial_get_format";
	set format(value) @ "xs_serial_set_format";
}
Object.freeze(Serial.prototype);

export default Serial;

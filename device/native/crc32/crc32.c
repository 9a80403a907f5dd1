/*
 * The firmware's byte loop of CRC-32 (crc32.js): protocol/crc32-loop.ts's crc32Update and crc32Fill in
 * C, on the ROM's CRC-32 (esp_rom_crc32_le, which chains as zlib's crc32(crc, buf, len) does). Frames
 * carry this CRC (docs/protocol.md §2): the device computes it over every request it decodes and every
 * answer it sends, and interpreted JavaScript did that a byte at a time.
 *
 * Arguments are checked against the real sizes of the buffers before any byte is read or written
 * (wrong type -> TypeError, out of range -> RangeError, naming the argument), so no call reaches
 * outside them whatever JavaScript passes. The pointers into XS memory are used only within the call,
 * after the last call that may allocate. The C calls no getter of a built-in (see crc32.js).
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "xsmc.h"

#include "esp_rom_crc.h"

static bool is_number(xsMachine *the, xsSlot *slot)
{
	int type = xsmcTypeOf(*slot);
	return type == xsIntegerType || type == xsNumberType;
}

/* An integer argument in 0..max. */
static uint32_t arg_uint(xsMachine *the, int index, const char *name, double max)
{
	if (xsmcArgc <= index || !is_number(the, &xsArg(index)))
		xsTypeError("%s: expected an integer", name);
	double d = xsmcToNumber(xsArg(index));
	if (!(d >= 0 && d <= max) || (double)(uint32_t)d != d)
		xsRangeError("%s: must be an integer 0..%.0f", name, max);
	return (uint32_t)d;
}

/* bytes: a Uint8Array, an ArrayBuffer or a DataView. */
static const uint8_t *arg_bytes(xsMachine *the, int index, xsUnsignedValue *count)
{
	void *data;
	if (xsmcArgc <= index || xsmcTypeOf(xsArg(index)) != xsReferenceType)
		xsTypeError("bytes: expected a Uint8Array");
	if (!xsmcIsInstanceOf(xsArg(index), xsArrayBufferPrototype) && !xsmcIsInstanceOf(xsArg(index), xsDataViewPrototype)) {
		xsmcGet(xsResult, xsGlobal, xsID("Uint8Array"));
		xsmcGet(xsResult, xsResult, xsID("prototype"));
		if (!xsmcIsInstanceOf(xsArg(index), xsResult))
			xsTypeError("bytes: expected a Uint8Array");
	}
	xsmcGetBufferReadable(xsArg(index), &data, count);
	return data;
}

/* Two integer arguments at index and index + 1 that bound a range of `count` bytes: 0 <= first <= second <= count. */
static void arg_range(xsMachine *the, int index, const char *first, const char *second, xsUnsignedValue count, uint32_t *a, uint32_t *b)
{
	*a = arg_uint(the, index, first, count);
	*b = arg_uint(the, index + 1, second, count);
	if (*a > *b)
		xsRangeError("%s: %u is after %s %u", first, (unsigned)*a, second, (unsigned)*b);
}

/* crc32Update(crc, bytes, start, end): the CRC of bytes[start, end) continued from crc. */
void xs_crc32_update(xsMachine *the)
{
	uint32_t crc = arg_uint(the, 0, "crc", 4294967295.0);
	xsUnsignedValue count;
	const uint8_t *bytes = arg_bytes(the, 1, &count);
	uint32_t start, end;
	arg_range(the, 2, "start", "end", count, &start, &end);
	crc = esp_rom_crc32_le(crc, bytes + start, end - start);
	xsmcSetNumber(xsResult, crc);
}

/* fill(bytes, from, to, buffer, byteOffset, length): crc32Fill's C (crc32.js passes the Uint32Array's
 * buffer, offset and length): its element k + 1 = the CRC of bytes[k] continued from element k, for k
 * in [from, to). Every write is bounded by the buffer itself, whatever offset and length say. */
void xs_crc32_fill(xsMachine *the)
{
	xsUnsignedValue count;
	const uint8_t *bytes = arg_bytes(the, 0, &count);
	uint32_t from, to;
	arg_range(the, 1, "from", "to", count, &from, &to);
	if (xsmcArgc < 6 || xsmcTypeOf(xsArg(3)) != xsReferenceType || !xsmcIsInstanceOf(xsArg(3), xsArrayBufferPrototype))
		xsTypeError("run: expected a Uint32Array");
	uint32_t offset = arg_uint(the, 4, "run.byteOffset", 4294967295.0);
	uint32_t length = arg_uint(the, 5, "run.length", 4294967295.0);
	if (to >= length)
		xsRangeError("run: %u elements is too short for to = %u", (unsigned)length, (unsigned)to);
	void *runData;
	xsUnsignedValue runSize;
	xsmcGetBufferWritable(xsArg(3), &runData, &runSize);
	if ((uint64_t)offset + 4 * ((uint64_t)to + 1) > runSize)
		xsRangeError("run: outside its buffer");
	uint8_t *run = (uint8_t *)runData + offset;
	uint32_t crc;
	memcpy(&crc, run + 4 * (size_t)from, 4);
	for (uint32_t k = from; k < to; k++) {
		crc = esp_rom_crc32_le(crc, bytes + k, 1);
		memcpy(run + 4 * ((size_t)k + 1), &crc, 4);
	}
}

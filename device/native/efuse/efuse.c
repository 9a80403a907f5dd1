/*
 * The firmware's native "efuse" module: XS host functions over ESP-IDF's HMAC peripheral
 * (esp_hmac_calculate), the eFuse key block queries, the factory MAC, chip info, the RNG and the app
 * description. efuse.js declares them, efuse.d.ts types them (docs/native.md has the contract and
 * the error table). The emulator compiles this file unchanged against its simulated IDF.
 *
 * The key never MACs bytes that JavaScript chooses (DESIGN.md, security model): there is no raw HMAC
 * export. attest() builds the attestation transcript here (docs/protocol.md §5) from state this file
 * reads itself — chip, revision, factory MAC, key block purpose and protection, secure boot, flash
 * encryption, the app's ELF SHA-256 and version, a fresh device nonce — with only the host nonce and
 * the slot from JavaScript; token() builds the SAS string-to-sign (§7) from the resource and expiry.
 * So a module on the device (a mod, a bug) can neither claim a security state the chip does not have
 * nor have the key sign a transcript-shaped message of its own.
 *
 * Rules kept here: arguments are read and checked before any IDF call (wrong type -> TypeError, out of
 * range -> RangeError, naming the argument); every esp_err_t becomes an Error whose message starts with
 * its name ("ESP_FAIL: ..."), which device/src/device.ts maps to a protocol status; no pointer into XS
 * memory is held across a call that may allocate (the message is copied to the stack first); the
 * message copy and the HMAC result are zeroed after use. There is no software HMAC: a chip without the
 * peripheral throws "no HMAC peripheral on <chip>". These are plain module functions: no receiver.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "xsmc.h"

#include "mc.defines.h"
#include "sdkconfig.h"

#include "esp_app_desc.h"
#include "esp_chip_info.h"
#include "esp_efuse.h"
#include "esp_efuse_table.h"
#include "esp_err.h"
#include "esp_flash_encrypt.h"
#include "esp_mac.h"
#include "esp_random.h"
#ifndef MODDEF_EFUSE_ADC_ENTROPY
#define MODDEF_EFUSE_ADC_ENTROPY 1
#endif
#if MODDEF_EFUSE_ADC_ENTROPY
#include "bootloader_random.h"
#endif
/* Key roles (DESIGN.md, security model): the key blocks that attest and those that sign cloud tokens,
 * as bit masks over BLOCK_KEY0..5 (manifest defines efuse.attest_slots / efuse.token_slots). No block
 * has both roles: whoever holds a cloud registry's key must not be able to forge attestations. */
#ifndef MODDEF_EFUSE_ATTEST_SLOTS
#define MODDEF_EFUSE_ATTEST_SLOTS (0x3d)   /* every block but BLOCK_KEY1 */
#endif
#ifndef MODDEF_EFUSE_TOKEN_SLOTS
#define MODDEF_EFUSE_TOKEN_SLOTS (0x02)
#endif
#if (MODDEF_EFUSE_ATTEST_SLOTS) & (MODDEF_EFUSE_TOKEN_SLOTS)
#error "efuse: a key block cannot both attest and sign tokens (defines efuse.attest_slots and efuse.token_slots overlap)"
#endif
#include "soc/soc_caps.h"
#if SOC_HMAC_SUPPORTED
#include "esp_hmac.h"
#define HAS_HMAC 1
#else
#define HAS_HMAC 0
#endif

#define KEY_SLOTS 6         /* BLOCK_KEY0..5 = HMAC_KEY0..5 */
#define HMAC_SIZE 32
#define RANDOM_MAX 256
#define PURPOSE_HMAC_UP 8

/* docs/protocol.md §5 and protocol/messages.ts: the transcript's constants. */
#define PROTOCOL_VERSION 1
#define NONCE_MIN 16
#define NONCE_MAX 64
#define DEVICE_NONCE_SIZE 16
#define DEVICE_ID_SIZE 6
#define FIRMWARE_ID_SIZE 32
#define FIRMWARE_VERSION_MAX 32
#define ATTEST_TAG_SIZE 8
#define TRANSCRIPT_MAX (ATTEST_TAG_SIZE + 1 + 1 + 2 + DEVICE_ID_SIZE + 4 + FIRMWARE_ID_SIZE + 1 + \
	FIRMWARE_VERSION_MAX + 1 + NONCE_MAX + DEVICE_NONCE_SIZE)

/* docs/protocol.md §7: the resource is at most 256 UTF-8 bytes, each percent-encoded at most. */
#define RESOURCE_MAX 256
#define STRING_TO_SIGN_MAX (RESOURCE_MAX * 3 + 1 + 10)

/* esp_chip_model_t values (esp_chip_info.h) as numbers, so that older IDF releases that lack some
 * of the enum's names still compile. The names are the protocol's (protocol/chips.ts). */
static const struct { int model; const char *name; } CHIP_NAMES[] = {
	{ 1, "esp32" }, { 2, "esp32s2" }, { 5, "esp32c3" }, { 9, "esp32s3" }, { 12, "esp32c2" },
	{ 13, "esp32c6" }, { 16, "esp32h2" }, { 18, "esp32p4" }, { 23, "esp32c5" },
};

static const char *chip_name(void)
{
	esp_chip_info_t info;
	esp_chip_info(&info);
	for (size_t i = 0; i < sizeof(CHIP_NAMES) / sizeof(CHIP_NAMES[0]); i++)
		if (CHIP_NAMES[i].model == (int)info.model) return CHIP_NAMES[i].name;
	return "unknown";
}

#if SOC_HMAC_SUPPORTED
/* esp_efuse_purpose_t names by value, as DESIGN.md and protocol/chips.ts list them. */
static const char *const PURPOSE_NAMES[] = {
	"USER", "RESERVED", "XTS_AES_256_KEY_1", "XTS_AES_256_KEY_2", "XTS_AES_128_KEY", "HMAC_DOWN_ALL",
	"HMAC_DOWN_JTAG", "HMAC_DOWN_DIGITAL_SIGNATURE", "HMAC_UP", "SECURE_BOOT_DIGEST0",
	"SECURE_BOOT_DIGEST1", "SECURE_BOOT_DIGEST2",
};

/* The ESP32-H2 numbers purposes 1 and 2 differently: ECDSA_KEY and RESERVED (it has no XTS-AES-256). */
static const char *purpose_name(unsigned purpose)
{
#if CONFIG_IDF_TARGET_ESP32H2
	if (purpose == 1 || purpose == 2)
		return purpose == 1 ? "ECDSA_KEY" : "RESERVED";
#endif
	return purpose < sizeof(PURPOSE_NAMES) / sizeof(PURPOSE_NAMES[0]) ? PURPOSE_NAMES[purpose] : "UNKNOWN";
}
#endif

#define NAMED(code) { code, #code }
/* The codes the IDF calls below can return, by name (see the header comment). */
static const struct { esp_err_t code; const char *name; } ERROR_NAMES[] = {
	NAMED(ESP_FAIL), NAMED(ESP_ERR_NO_MEM), NAMED(ESP_ERR_INVALID_ARG), NAMED(ESP_ERR_INVALID_STATE),
	NAMED(ESP_ERR_INVALID_SIZE), NAMED(ESP_ERR_NOT_FOUND), NAMED(ESP_ERR_NOT_SUPPORTED),
	NAMED(ESP_ERR_TIMEOUT), NAMED(ESP_ERR_INVALID_RESPONSE), NAMED(ESP_ERR_INVALID_CRC),
	NAMED(ESP_ERR_INVALID_VERSION), NAMED(ESP_ERR_INVALID_MAC), NAMED(ESP_ERR_NOT_FINISHED),
	NAMED(ESP_ERR_NOT_ALLOWED), NAMED(ESP_ERR_EFUSE_CNT_IS_FULL), NAMED(ESP_ERR_EFUSE_REPEATED_PROG),
	NAMED(ESP_ERR_CODING), NAMED(ESP_ERR_NOT_ENOUGH_UNUSED_KEY_BLOCKS), NAMED(ESP_ERR_DAMAGED_READING),
};

static const char *error_name(esp_err_t err)
{
	for (size_t i = 0; i < sizeof(ERROR_NAMES) / sizeof(ERROR_NAMES[0]); i++)
		if (ERROR_NAMES[i].code == err) return ERROR_NAMES[i].name;
	return NULL;
}

/* Secure boot as the chip's eFuses have it: ABS_DONE_0 (V1) or ABS_DONE_1 (V2) on the original
 * ESP32, SECURE_BOOT_EN on the later chips. */
static bool secure_boot_fused(void)
{
#if CONFIG_IDF_TARGET_ESP32
	return esp_efuse_read_field_bit(ESP_EFUSE_ABS_DONE_0) || esp_efuse_read_field_bit(ESP_EFUSE_ABS_DONE_1);
#else
	return esp_efuse_read_field_bit(ESP_EFUSE_SECURE_BOOT_EN);
#endif
}

static void memzero(void *p, size_t n)
{
	volatile uint8_t *v = p;
	while (n--) *v++ = 0;
}

/* Throws new Error(message). Built here rather than with xsUnknownError, whose debug builds prefix
 * the message with the function name: the message must start with the esp_err_t name. */
static void throw_error(xsMachine *the, const char *fmt, ...)
{
	char message[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	xsmcSetString(xsResult, message);
	xsResult = xsNew1(xsGlobal, xsID("Error"), xsResult);
	xsThrow(xsResult);
}

/* "<ESP_ERR name>: <what>"; a code without a name here keeps its number. */
static void throw_esp(xsMachine *the, esp_err_t err, const char *what)
{
	const char *name = error_name(err);
	if (!name)
		throw_error(the, "ESP_ERR_UNKNOWN: %s returned 0x%x", what, (unsigned)err);
	throw_error(the, "%s: %s", name, what);
}

static bool is_number(xsMachine *the, xsSlot *slot)
{
	int type = xsmcTypeOf(*slot);
	return type == xsIntegerType || type == xsNumberType;
}

/* An integer argument in min..max. */
static int arg_int(xsMachine *the, int index, const char *name, int min, int max)
{
	if (xsmcArgc <= index || !is_number(the, &xsArg(index)))
		xsTypeError("%s: expected an integer", name);
	double d = xsmcToNumber(xsArg(index));
	if (!(d >= min && d <= max) || (double)(int)d != d)
		xsRangeError("%s: must be an integer %d..%d", name, min, max);
	return (int)d;
}

/* Copies a byte argument (an ArrayBuffer or any view of one) of min..max bytes into dst.
 * xsmcGetArrayBufferData copies under XS's own bounds checks: no pointer into XS memory is kept. */
static size_t arg_bytes(xsMachine *the, int index, const char *name, uint8_t *dst, int min, int max)
{
	xsIntegerValue offset = 0, length;

	if (xsmcArgc <= index || xsmcTypeOf(xsArg(index)) != xsReferenceType)
		xsTypeError("%s: expected an ArrayBuffer or an ArrayBuffer view", name);
	if (xsmcIsInstanceOf(xsArg(index), xsArrayBufferPrototype)) {
		length = xsmcGetArrayBufferLength(xsArg(index));
		xsResult = xsArg(index);
	}
	else if (xsmcIsInstanceOf(xsArg(index), xsTypedArrayPrototype) || xsmcIsInstanceOf(xsArg(index), xsDataViewPrototype)) {
		xsmcGet(xsResult, xsArg(index), xsID("byteLength"));
		length = xsmcToInteger(xsResult);
		xsmcGet(xsResult, xsArg(index), xsID("byteOffset"));
		offset = xsmcToInteger(xsResult);
		xsmcGet(xsResult, xsArg(index), xsID("buffer"));
		if (xsmcTypeOf(xsResult) != xsReferenceType || !xsmcIsInstanceOf(xsResult, xsArrayBufferPrototype))
			xsTypeError("%s: a view of a SharedArrayBuffer is not accepted", name);
	}
	else
		xsTypeError("%s: expected an ArrayBuffer or an ArrayBuffer view", name);
	if (length < min || length > max)
		xsRangeError("%s: %d..%d bytes, got %d", name, min, max, (int)length);
	if (length)
		xsmcGetArrayBufferData(xsResult, offset, dst, length);
	xsmcSetUndefined(xsResult);
	return (size_t)length;
}

/* A char[N] field of esp_app_desc_t, which need not end in NUL: its length up to size. */
static size_t field_length(const char *field, size_t size)
{
	size_t n = 0;
	while (n < size && field[n]) n++;
	return n;
}

/* Such a field as a string. */
static void set_field_string(xsMachine *the, xsSlot *slot, const char *field, size_t size)
{
	char text[33];
	size_t n = field_length(field, size < sizeof(text) - 1 ? size : sizeof(text) - 1);
	memcpy(text, field, n);
	text[n] = 0;
	xsmcSetString(*slot, text);
}

/* Fills `count` bytes from the RNG with an entropy source (see xs_efuse_random). */
static void fill_random(uint8_t *bytes, size_t count)
{
	/* Without RF the chip's RNG is not truly random (esp_random.h): the SAR ADC entropy source runs for
	 * the fill (manifest define efuse.adc_entropy; off for a firmware that runs RF or uses the ADC). */
#if MODDEF_EFUSE_ADC_ENTROPY
	bootloader_random_enable();
#endif
	esp_fill_random(bytes, count);
#if MODDEF_EFUSE_ADC_ENTROPY
	bootloader_random_disable();
#endif
}


#if SOC_HMAC_SUPPORTED
/* HMAC of message with BLOCK_KEY<slot>; throws the esp_err_t. The message is always a transcript or
 * string-to-sign built in this file, and the block has passed check_use (its purpose is HMAC_UP). */
static void hmac_or_throw(xsMachine *the, int slot, const uint8_t *message, size_t length, uint8_t mac[HMAC_SIZE])
{
	esp_err_t err = esp_hmac_calculate((hmac_key_id_t)(HMAC_KEY0 + slot), message, length, mac);
	if (err == ESP_OK)
		return;
	memzero(mac, HMAC_SIZE);
	if (err == ESP_FAIL)
		throw_error(the, "ESP_FAIL: esp_hmac_calculate failed with key block BLOCK_KEY%d (purpose HMAC_UP)", slot);
	char what[48];
	snprintf(what, sizeof(what), "esp_hmac_calculate(HMAC_KEY%d)", slot);
	throw_esp(the, err, what);
}
#endif

/* The device id: the factory MAC (esp_efuse_mac_get_default), 6 bytes. */
static void read_device_id(xsMachine *the, uint8_t id[8])
{
	/* 8 bytes: on chips with IEEE 802.15.4 IDF writes an EUI-64 (MAC-48 with 2 bytes inserted at 3). */
	memset(id, 0, 8);
	esp_err_t err = esp_efuse_mac_get_default(id);
	if (err != ESP_OK) throw_esp(the, err, "esp_efuse_mac_get_default");
#if SOC_IEEE802154_SUPPORTED
	memmove(id + 3, id + 5, 3);
#endif
}

#if SOC_HMAC_SUPPORTED
/* Refuses a block that holds no HMAC key (its purpose: what the peripheral would refuse, with ESP_FAIL),
 * then one whose role is the other one (this firmware's rule, the defines). Returns the purpose. */
static unsigned check_use(xsMachine *the, int slot, unsigned mask, const char *role)
{
	unsigned purpose = (unsigned)esp_efuse_get_key_purpose((esp_efuse_block_t)(EFUSE_BLK_KEY0 + slot));
	if (purpose != PURPOSE_HMAC_UP)
		throw_error(the, "ESP_FAIL: key block BLOCK_KEY%d purpose is %s (%u), not HMAC_UP (8)", slot, purpose_name(purpose), purpose);
	if (!((mask >> slot) & 1))
		throw_error(the, "KEY_ROLE: BLOCK_KEY%d is not %s (attestation blocks 0x%02x, token blocks 0x%02x)",
			slot, role, (unsigned)(MODDEF_EFUSE_ATTEST_SLOTS), (unsigned)(MODDEF_EFUSE_TOKEN_SLOTS));
	return purpose;
}

static void set_bytes(xsMachine *the, const char *name, const void *bytes, size_t length)
{
	xsmcSetArrayBuffer(xsVar(0), (void *)bytes, (xsUnsignedValue)length);
	xsmcSet(xsResult, xsID(name), xsVar(0));
}

static void set_int(xsMachine *the, const char *name, int value)
{
	xsmcSetInteger(xsVar(0), value);
	xsmcSet(xsResult, xsID(name), xsVar(0));
}

static void set_bool(xsMachine *the, const char *name, bool value)
{
	xsmcSetBoolean(xsVar(0), value);
	xsmcSet(xsResult, xsID(name), xsVar(0));
}
#endif

/*
 * attest(slot, hostNonce): the attestation of docs/protocol.md §5, every field read here. Returns
 * { chip, revision, deviceId, hmac, secureBoot, flashEncryption, firmwareId, firmwareVersion, slot,
 * purpose, readProtected, writeProtected, deviceNonce, mac } (byte fields as ArrayBuffers).
 */
void xs_efuse_attest(xsMachine *the)
{
	uint8_t nonce[NONCE_MAX];
	int slot = arg_int(the, 0, "slot", 0, KEY_SLOTS - 1);
	size_t nonceLength = arg_bytes(the, 1, "hostNonce", nonce, NONCE_MIN, NONCE_MAX);
#if !SOC_HMAC_SUPPORTED
	(void)slot;
	(void)nonceLength;
	throw_error(the, "no HMAC peripheral on %s", chip_name());
#else
	uint8_t transcript[TRANSCRIPT_MAX];
	uint8_t deviceId[8] = { 0 };
	uint8_t deviceNonce[DEVICE_NONCE_SIZE];
	uint8_t mac[HMAC_SIZE];
	esp_chip_info_t info;
	size_t o = 0;

	unsigned purpose = check_use(the, slot, MODDEF_EFUSE_ATTEST_SLOTS, "an attestation key");
	esp_chip_info(&info);
	read_device_id(the, deviceId);
	esp_efuse_block_t block = (esp_efuse_block_t)(EFUSE_BLK_KEY0 + slot);
	bool readProtected = esp_efuse_get_key_dis_read(block);
	bool writeProtected = esp_efuse_get_key_dis_write(block);
	bool secureBoot = secure_boot_fused();
	bool flashEncryption = esp_flash_encryption_enabled();
	const esp_app_desc_t *app = esp_app_get_description();
	size_t versionLength = field_length(app->version, FIRMWARE_VERSION_MAX < sizeof(app->version) ? FIRMWARE_VERSION_MAX : sizeof(app->version));
	fill_random(deviceNonce, sizeof(deviceNonce));

	static const uint8_t tag[ATTEST_TAG_SIZE] = { 0x00, 0xef, 'A', 'T', 'T', 'E', 'S', 'T' }; /* never in printable text */
	memcpy(transcript + o, tag, sizeof(tag)); o += sizeof(tag);
	transcript[o++] = PROTOCOL_VERSION;
	transcript[o++] = (uint8_t)info.model;
	transcript[o++] = (uint8_t)(info.revision & 255);
	transcript[o++] = (uint8_t)(info.revision >> 8);
	memcpy(transcript + o, deviceId, DEVICE_ID_SIZE); o += DEVICE_ID_SIZE;
	transcript[o++] = (uint8_t)slot;
	transcript[o++] = (uint8_t)purpose;
	transcript[o++] = (uint8_t)((readProtected ? 1 : 0) | (writeProtected ? 2 : 0));
	transcript[o++] = (uint8_t)(1 | (secureBoot ? 2 : 0) | (flashEncryption ? 4 : 0)); /* bit 0: the HMAC peripheral */
	memcpy(transcript + o, app->app_elf_sha256, FIRMWARE_ID_SIZE); o += FIRMWARE_ID_SIZE;
	transcript[o++] = (uint8_t)versionLength;
	memcpy(transcript + o, app->version, versionLength); o += versionLength;
	transcript[o++] = (uint8_t)nonceLength;
	memcpy(transcript + o, nonce, nonceLength); o += nonceLength;
	memcpy(transcript + o, deviceNonce, DEVICE_NONCE_SIZE); o += DEVICE_NONCE_SIZE;

	hmac_or_throw(the, slot, transcript, o, mac);
	memzero(transcript, sizeof(transcript));
	memzero(nonce, sizeof(nonce));

	xsmcVars(1);
	xsmcSetNewObject(xsResult);
	set_int(the, "chip", (int)info.model);
	set_int(the, "revision", info.revision);
	set_bytes(the, "deviceId", deviceId, DEVICE_ID_SIZE);
	set_bool(the, "hmac", true);
	set_bool(the, "secureBoot", secureBoot);
	set_bool(the, "flashEncryption", flashEncryption);
	set_bytes(the, "firmwareId", app->app_elf_sha256, FIRMWARE_ID_SIZE);
	set_field_string(the, &xsVar(0), app->version, versionLength);
	xsmcSet(xsResult, xsID("firmwareVersion"), xsVar(0));
	set_int(the, "slot", slot);
	set_int(the, "purpose", (int)purpose);
	set_bool(the, "readProtected", readProtected);
	set_bool(the, "writeProtected", writeProtected);
	set_bytes(the, "deviceNonce", deviceNonce, DEVICE_NONCE_SIZE);
	set_bytes(the, "mac", mac, HMAC_SIZE);
	memzero(mac, sizeof(mac));
#endif
}

#if SOC_HMAC_SUPPORTED
/* RFC 3986 unreserved characters: what the SAS string-to-sign leaves as it is (docs/protocol.md §7). */
static bool unreserved(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}
#endif

/*
 * token(slot, resource, expiry): the HMAC of the SAS string-to-sign, built here:
 * percent-encoded UTF-8 resource (every byte but A-Z a-z 0-9 - . _ ~ as %XX, upper-case hex but "*" as
 * "%2a"), "\n",
 * expiry in decimal. Returns the 32-byte signature as an ArrayBuffer.
 */
void xs_efuse_token(xsMachine *the)
{
	int slot = arg_int(the, 0, "slot", 0, KEY_SLOTS - 1);
	char resource[RESOURCE_MAX + 1];
	if (xsmcArgc < 2 || xsmcTypeOf(xsArg(1)) != xsStringType)
		xsTypeError("resource: expected a string");
	xsmcToStringBuffer(xsArg(1), resource, sizeof(resource)); /* throws when longer than RESOURCE_MAX bytes */
	size_t resourceLength = strlen(resource);
	if (resourceLength < 1)
		xsRangeError("resource: 1..%d bytes", RESOURCE_MAX);
	for (size_t i = 0; i < resourceLength; i++)
		if ((uint8_t)resource[i] < 0x20 || resource[i] == 0x7f)
			xsRangeError("resource: no control characters");
	if (xsmcArgc < 3 || !is_number(the, &xsArg(2)))
		xsTypeError("expiry: expected an integer");
	double expiry = xsmcToNumber(xsArg(2));
	if (!(expiry >= 1 && expiry <= 4294967295.0) || (double)(uint32_t)expiry != expiry)
		xsRangeError("expiry: must be an integer 1..4294967295");

#if !SOC_HMAC_SUPPORTED
	(void)slot;
	throw_error(the, "no HMAC peripheral on %s", chip_name());
#else
	static const char hex[] = "0123456789ABCDEF";
	char message[STRING_TO_SIGN_MAX + 1];
	uint8_t mac[HMAC_SIZE];
	size_t o = 0;
	(void)check_use(the, slot, MODDEF_EFUSE_TOKEN_SLOTS, "a token key");
	for (size_t i = 0; i < resourceLength; i++) {
		uint8_t c = (uint8_t)resource[i];
		if (unreserved(c))
			message[o++] = (char)c;
		else {
			message[o++] = '%';
			message[o++] = hex[c >> 4];
			/* '*' as "%2a", lower case, as the Azure IoT SDK writes it (docs/protocol.md §7.1) */
			message[o++] = c == '*' ? 'a' : hex[c & 15];
		}
	}
	o += (size_t)snprintf(message + o, sizeof(message) - o, "\n%lu", (unsigned long)(uint32_t)expiry);
	hmac_or_throw(the, slot, (const uint8_t *)message, o, mac);
	xsmcSetArrayBuffer(xsResult, mac, sizeof(mac));
	memzero(mac, sizeof(mac));
#endif
}

void xs_efuse_mac(xsMachine *the)
{
	uint8_t id[8];
	read_device_id(the, id);
	xsmcSetArrayBuffer(xsResult, id, DEVICE_ID_SIZE);
}

void xs_efuse_chip(xsMachine *the)
{
	esp_chip_info_t info;
	esp_chip_info(&info);
	xsmcVars(1);
	xsmcSetNewObject(xsResult);
	xsmcSetString(xsVar(0), (char *)chip_name());
	xsmcSet(xsResult, xsID("model"), xsVar(0));
	xsmcSetInteger(xsVar(0), info.revision);
	xsmcSet(xsResult, xsID("revision"), xsVar(0));
	xsmcSetBoolean(xsVar(0), HAS_HMAC);
	xsmcSet(xsResult, xsID("hmac"), xsVar(0));
	xsmcSetBoolean(xsVar(0), secure_boot_fused());
	xsmcSet(xsResult, xsID("secureBoot"), xsVar(0));
	xsmcSetBoolean(xsVar(0), esp_flash_encryption_enabled());
	xsmcSet(xsResult, xsID("flashEncryption"), xsVar(0));
}

void xs_efuse_key_block(xsMachine *the)
{
	int slot = arg_int(the, 0, "slot", 0, KEY_SLOTS - 1);
#if !SOC_EFUSE_KEY_PURPOSE_FIELD
	(void)slot;
	throw_error(the, "ESP_ERR_NOT_SUPPORTED: %s has no eFuse key purposes", chip_name());
#else
	esp_efuse_block_t block = (esp_efuse_block_t)(EFUSE_BLK_KEY0 + slot);
	esp_efuse_purpose_t purpose = esp_efuse_get_key_purpose(block);
	if (purpose == ESP_EFUSE_KEY_PURPOSE_MAX)
		throw_esp(the, ESP_ERR_INVALID_ARG, "esp_efuse_get_key_purpose: not a key block");
	xsmcVars(1);
	xsmcSetNewObject(xsResult);
	xsmcSetInteger(xsVar(0), (int)purpose);
	xsmcSet(xsResult, xsID("purpose"), xsVar(0));
	xsmcSetBoolean(xsVar(0), esp_efuse_get_key_dis_read(block));
	xsmcSet(xsResult, xsID("readProtected"), xsVar(0));
	xsmcSetBoolean(xsVar(0), esp_efuse_get_key_dis_write(block));
	xsmcSet(xsResult, xsID("writeProtected"), xsVar(0));
	xsmcSetBoolean(xsVar(0), esp_efuse_key_block_unused(block));
	xsmcSet(xsResult, xsID("unused"), xsVar(0));
#endif
}

void xs_efuse_random(xsMachine *the)
{
	uint8_t bytes[RANDOM_MAX];
	int count = arg_int(the, 0, "count", 1, RANDOM_MAX);
	fill_random(bytes, (size_t)count);
	xsmcSetArrayBuffer(xsResult, bytes, count);
	memzero(bytes, sizeof(bytes));
}

void xs_efuse_firmware(xsMachine *the)
{
	const esp_app_desc_t *app = esp_app_get_description();
	uint8_t id[sizeof(app->app_elf_sha256)];
	memcpy(id, app->app_elf_sha256, sizeof(id));
	xsmcVars(1);
	xsmcSetNewObject(xsResult);
	xsmcSetArrayBuffer(xsVar(0), id, sizeof(id));
	xsmcSet(xsResult, xsID("id"), xsVar(0));
	set_field_string(the, &xsVar(0), app->version, sizeof(app->version));
	xsmcSet(xsResult, xsID("version"), xsVar(0));
	set_field_string(the, &xsVar(0), app->project_name, sizeof(app->project_name));
	xsmcSet(xsResult, xsID("project"), xsVar(0));
}

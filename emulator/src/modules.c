/*
 * Module resolution and loading for the emulator (the engine calls fxFindModule and fxLoadModule).
 *
 * Modules are found as on the device: by the name their manifest gives them (the link map, linkmap.c),
 * with import specifiers turned into names exactly as xsl and the device's loader do (resolve below).
 * A specifier that would not link on the device fails here with the same ReferenceError, naming the
 * specifier and the importing module. "mc/config" is the target's config from the manifests, merged
 * with --config-json. Sources are parsed when first imported (xsl compiles them ahead on a device).
 *
 * Sources are parsed with mxCFlag so `@ "xs_name"` declarations are accepted; the parser records
 * the names and this file binds them to the C functions of the generated host table (hosts.h).
 */
#include "xsAll.h"
#include "xsScript.h"
#include "xs.h"
#include "emu.h"
#include "hosts.h"

#include <errno.h>
#include <sys/stat.h>

#define CONFIG_MODULE "mc/config"

static void throw_message(txMachine *the, const char *constructor, const char *format, ...)
	__attribute__((format(printf, 3, 4), noreturn));

/* xsUnknownError and friends cut messages at 128 bytes; paths are longer. */
static void throw_message(txMachine *the, const char *constructor, const char *format, ...)
{
	char message[C_PATH_MAX * 2 + 256];
	va_list arguments;
	va_start(arguments, format);
	vsnprintf(message, sizeof(message), format, arguments);
	va_end(arguments);
	xsThrow(xsNew1(xsGlobal, xsID((txString)constructor), xsString(message)));
	abort(); /* not reached: xsThrow jumps */
}

/* ---- resolution ---- */

/* The module name a specifier refers to, as xsl (tools/xsl.c) and the device's loader
   (xs/platforms/mc/xsHosts.c) compute it: a ".js" or ".mjs" suffix of the last segment is dropped;
   "./x" and "../x" are taken relative to the importing module's *name* (not a file), "moddable:x" is x.
   Returns NULL on success, else why the specifier names no module. */
static const char *resolve(const char *specifier, const char *referrer, char *name, size_t size)
{
	static char why[C_PATH_MAX + 64];
	char spec[C_PATH_MAX];
	char *dot, *slash;
	size_t ups = 0, skip = 0;

	if (strcmp(specifier, CONFIG_MODULE) == 0) {
		snprintf(name, size, "%s", CONFIG_MODULE);
		return NULL;
	}
	if (strlen(specifier) >= sizeof(spec))
		return "specifier too long";
	snprintf(spec, sizeof(spec), "%s", strncmp(specifier, "moddable:", 9) ? specifier : specifier + 9);
	slash = strrchr(spec, '/');
	dot = strrchr(slash ? slash : spec, '.');
	if (dot && (!strcmp(dot, ".js") || !strcmp(dot, ".mjs")))
		*dot = 0;
	if (spec[0] == '.' && spec[1] == '/') {
		ups = 1;
		skip = 1;
	}
	else if (spec[0] == '.' && spec[1] == '.' && spec[2] == '/') {
		ups = 2;
		skip = 2;
		while (spec[skip + 1] == '.' && spec[skip + 2] == '.' && spec[skip + 3] == '/') {
			ups++;
			skip += 3;
		}
	}
	if (ups) {
		char buffer[C_PATH_MAX + 1];
		if (!referrer || !referrer[0])
			return "a relative specifier outside a module";
		snprintf(buffer, sizeof(buffer), "/%s", referrer);
		while (ups--) {
			slash = strrchr(buffer, '/');
			if (!slash) {
				snprintf(why, sizeof(why), "it climbs above the top of the module names (from \"%s\")", referrer);
				return why;
			}
			*slash = 0;
		}
		if (strlen(buffer) + strlen(spec + skip) >= sizeof(buffer))
			return "path too long";
		strcat(buffer, spec + skip);
		snprintf(spec, sizeof(spec), "%s", buffer + 1);
	}
	if (!linkmap_file(spec)) {
		snprintf(why, sizeof(why), "no module \"%s\" in the manifests for %s", spec, linkmap_platform());
		return why;
	}
	if (strlen(spec) >= size)
		return "path too long";
	snprintf(name, size, "%s", spec);
	return NULL;
}

txID fxFindModule(txMachine *the, txSlot *realm, txID moduleID, txSlot *slot)
{
	char specifier[C_PATH_MAX];
	char referrer[C_PATH_MAX];
	char path[C_PATH_MAX];
	const char *why;
	(void)realm;

	fxToStringBuffer(the, slot, specifier, sizeof(specifier));
	referrer[0] = 0;
	if (moduleID != XS_NO_ID)
		snprintf(referrer, sizeof(referrer), "%s", fxGetKeyName(the, moduleID));
	why = resolve(specifier, referrer, path, sizeof(path));
	if (why) {
		if (referrer[0])
			throw_message(the, "ReferenceError", "module \"%s\" not found (imported by %s): %s", specifier, referrer, why);
		throw_message(the, "ReferenceError", "module \"%s\" not found: %s", specifier, why);
	}
	return fxNewNameC(the, path);
}

/* ---- sources ---- */

typedef struct {
	const uint8_t *bytes;
	size_t offset, size;
} source_stream;

static int source_getter(void *it)
{
	source_stream *s = it;
	return s->offset < s->size ? s->bytes[s->offset++] : C_EOF;
}

static char *read_file(const char *path, size_t *size)
{
	FILE *file = fopen(path, "rb");
	char *data = NULL;
	long length;
	if (!file)
		return NULL;
	if (fseek(file, 0, SEEK_END) == 0 && (length = ftell(file)) >= 0 && fseek(file, 0, SEEK_SET) == 0) {
		data = malloc((size_t)length + 1);
		if (data && fread(data, 1, (size_t)length, file) == (size_t)length) {
			data[length] = 0;
			*size = (size_t)length;
		}
		else {
			free(data);
			data = NULL;
		}
	}
	fclose(file);
	return data;
}

/* Appends text as the body of a JavaScript string literal. */
static void append_literal(char **out, const char *text)
{
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		if (*p == '"' || *p == '\\') {
			*(*out)++ = '\\';
			*(*out)++ = (char)*p;
		}
		else if (*p < 0x20)
			*out += sprintf(*out, "\\u%04x", *p);
		else
			*(*out)++ = (char)*p;
	}
}

/* `export default <the target's config merged with --config-json>;`, merged by the engine itself
   so malformed JSON is reported by JSON.parse with its source named. */
static char *config_source(size_t *size, char *why, size_t whySize)
{
	static const char prologue[] =
		"function merge(into, from) {\n"
		"  for (const key of Object.keys(from)) {\n"
		"    const a = into[key], b = from[key];\n"
		"    const objects = a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b);\n"
		"    into[key] = objects ? merge(a, b) : b;\n"
		"  }\n"
		"  return into;\n"
		"}\n"
		"function parse(text, what) {\n"
		"  let value;\n"
		"  try { value = JSON.parse(text); }\n"
		"  catch (e) { throw new SyntaxError(`${what} is not valid JSON: ${e.message}`); }\n"
		"  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new TypeError(`${what} must be a JSON object`);\n"
		"  return value;\n"
		"}\n";
	const char *target = linkmap_config();
	const char *extra = emu_opts.configJson ? emu_opts.configJson : "{}";
	char *source, *out;

	/* each byte becomes at most 6 (\u00XX) */
	source = malloc(sizeof(prologue) + 6 * (strlen(target) + strlen(extra)) + 512);
	if (!source) {
		snprintf(why, whySize, "out of memory");
		return NULL;
	}
	out = source;
	out += sprintf(out, "%s", prologue);
	out += sprintf(out, "const target = parse(\"");
	append_literal(&out, target);
	out += sprintf(out, "\", \"the manifests' config\");\nconst extra = parse(\"");
	append_literal(&out, extra);
	out += sprintf(out, "\", \"--config-json\");\n");
	out += sprintf(out, "export default Object.freeze(merge(target, extra));\n");
	*size = (size_t)(out - source);
	return source;
}

/* ---- parsing ---- */

static char parseError[1024];

static void report_parse_error(void *console, txString path, txInteger line, txString format, c_va_list arguments)
{
	int n = 0;
	(void)console;
	if (parseError[0])
		return; /* keep the first */
	if (path && line)
		n = snprintf(parseError, sizeof(parseError), "%s:%d: ", path, (int)line);
	else if (path)
		n = snprintf(parseError, sizeof(parseError), "%s: ", path);
	if (n >= 0 && (size_t)n < sizeof(parseError))
		vsnprintf(parseError + n, sizeof(parseError) - (size_t)n, format, arguments);
}

static void report_parse_warning(void *console, txString path, txInteger line, txString format, c_va_list arguments)
{
	(void)console;
	if (!emu_opts.verbose)
		return;
	fprintf(stderr, "%s: %s:%d: warning: ", EMU_NAME, path ? path : "?", (int)line);
	vfprintf(stderr, format, arguments);
	fputc('\n', stderr);
}

static txScript *parse(txMachine *the, const char *path, const char *source, size_t size)
{
	txParser _parser;
	txParser *parser = &_parser;
	txParserJump jump;
	txScript *volatile script = NULL;
	source_stream stream = { (const uint8_t *)source, 0, size };

	parseError[0] = 0;
	fxInitializeParser(parser, the, the->parserBufferSize, the->parserTableModulo);
	parser->firstJump = &jump;
	parser->reportError = report_parse_error;
	parser->reportWarning = report_parse_warning;
	if (c_setjmp(jump.jmp_buf) == 0) {
		parser->path = fxNewParserSymbol(parser, (txString)path);
		fxParserTree(parser, &stream, source_getter, mxCFlag | mxDebugFlag, NULL);
		fxParserHoist(parser);
		fxParserBind(parser);
		script = fxParserCode(parser);
	}
	fxTerminateParser(parser);
	if (!script && !parseError[0])
		snprintf(parseError, sizeof(parseError), "%s: cannot parse", path);
	return script;
}

/* ---- host functions ---- */

/* The script fxResolveModule is running; its callback (bind_hosts) runs first thing. */
static txScript *bindingScript;
static const char *bindingPath;

static const emu_host *find_host(const char *name)
{
	for (size_t i = 0; i < emu_host_count; i++) {
		if (strcmp(emu_hosts[i].name, name) == 0)
			return &emu_hosts[i];
	}
	return NULL;
}

/* The engine ID of the index-th name in the script's symbol table (1-based, as the parser numbers
   them). */
static txID symbol_id(txMachine *the, txScript *script, txID index)
{
	txByte *p = (txByte *)script->symbolsBuffer;
	txID count;
	if (index == XS_NO_ID || !p)
		return XS_NO_ID;
	mxDecodeID(p, count);
	if (index >= count)
		return XS_NO_ID;
	for (txID i = 1; i < index; i++)
		p += strlen((char *)p) + 1;
	return fxNewNameC(the, (txString)p);
}

/* Stands in for a declared host function with no C behind it; its name property is the host name. */
static void unlinked_host(txMachine *the)
{
	char name[128];
	xsVars(1);
	xsVar(0) = xsGet(xsFunction, xsID("name"));
	xsToStringBuffer(xsVar(0), name, sizeof(name));
	throw_message(the, "Error", "host function %s is not linked into this emulator", name);
}

/* The builder arrays of the machine's modules. With mxHostFunctionPrimitive (XS 17) a host function
   keeps a pointer to its builder, so they live as long as the machine (modules_release). */
static txHostFunctionBuilder **builderArrays;
static size_t builderArrayCount;

void modules_release(void)
{
	for (size_t i = 0; i < builderArrayCount; i++)
		free(builderArrays[i]);
	free(builderArrays);
	builderArrays = NULL;
	builderArrayCount = 0;
}

static void keep_builders(txMachine *the, txHostFunctionBuilder *builders)
{
	txHostFunctionBuilder **more = realloc(builderArrays, (builderArrayCount + 1) * sizeof(*more));
	if (!more) {
		free(builders);
		fxAbort(the, XS_NOT_ENOUGH_MEMORY_EXIT);
		return;
	}
	builderArrays = more;
	builderArrays[builderArrayCount++] = builders;
}

/* script->callback: builds the array of host functions the module's `@` declarations index. */
static void bind_hosts(txMachine *the)
{
	txScript *script = bindingScript;
	txByte *p = (txByte *)script->hostsBuffer;
	txHostFunctionBuilder *builders;
	txID count;

	mxDecodeID(p, count);
	builders = calloc((size_t)count + 1, sizeof(txHostFunctionBuilder));
	if (!builders)
		fxAbort(the, XS_NOT_ENOUGH_MEMORY_EXIT);
	for (txID i = 0; i < count; i++) {
		txS1 length = (txS1)*p++;
		txID index;
		const char *name;
		const emu_host *host;
		mxDecodeID(p, index);
		name = (const char *)p;
		p += strlen(name) + 1;
		host = find_host(name);
		if (length < 0) {
			/* `class X @ "xs_..."`: the destructor of its host instances */
			if (!host || !host->function || !host->destructor) {
				free(builders);
				throw_message(the, "Error", "host function %s is not linked into this emulator", name);
			}
			builders[i].callback = (txCallback)host->function;
			builders[i].id = XS_NO_ID;
		}
		else if (host && host->function && !host->destructor) {
			builders[i].callback = (txCallback)host->function;
			builders[i].id = symbol_id(the, script, index);
		}
		else {
			builders[i].callback = unlinked_host;
			builders[i].id = fxNewNameC(the, (txString)name);
			if (emu_opts.verbose)
				emu_log("%s: host function %s is not linked into this emulator", bindingPath, name);
		}
		builders[i].length = length;
	}
	keep_builders(the, builders);
	fxBuildHosts(the, count, builders);
	mxPullSlot(mxResult);
}

void fxLoadModule(txMachine *the, txSlot *module, txID moduleID)
{
	char name[C_PATH_MAX];
	char path[C_PATH_MAX];
	char why[C_PATH_MAX + 128];
	char *source;
	size_t size = 0;
	txScript *script;

	/* copy the key now: the engine's strings move when it allocates */
	snprintf(name, sizeof(name), "%s", fxGetKeyName(the, moduleID));
	why[0] = 0;
	if (strcmp(name, CONFIG_MODULE) == 0) {
		snprintf(path, sizeof(path), "%s", CONFIG_MODULE);
		source = config_source(&size, why, sizeof(why));
	}
	else {
		const char *file = linkmap_file(name);
		snprintf(path, sizeof(path), "%s", file ? file : name);
		source = file ? read_file(path, &size) : NULL;
		if (!source)
			snprintf(why, sizeof(why), "cannot read %s: %s", path, strerror(errno));
	}
	if (!source)
		throw_message(the, "Error", "module %s: %s", path, why);
	if (emu_opts.verbose)
		emu_log("loading %s", path);

	script = parse(the, path, source, size);
	free(source);
	if (!script)
		throw_message(the, "SyntaxError", "%s", parseError);
	if (script->hostsBuffer)
		script->callback = bind_hosts;
	bindingScript = script;
	bindingPath = path;
	fxResolveModule(the, module, moduleID, script, C_NULL, C_NULL);
	bindingScript = NULL;
}

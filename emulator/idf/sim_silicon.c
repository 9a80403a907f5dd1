// The simulated chip's "silicon" side file: the keys that a read-protected eFuse block holds but an
// eFuse image cannot show (espefuse zeroes such blocks, as reading them on silicon gives zeros).
//   {"chip": "esp32s3", "keys": {"BLOCK_KEY0": "<64 hex characters: the 32 bytes of the key file>"}}
// A small strict JSON reader: other top-level members are skipped, anything malformed is an error
// that names the file and the member.
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sim_internal.h"

#define SILICON_MAX 65536
#define MAX_DEPTH 16

typedef struct {
	const char *start, *p, *end, *path;
	char *err;
	size_t errlen;
} reader_t;

static int bad(reader_t *r, const char *fmt, ...)
{
	if (r->err && r->errlen) {
		int n = snprintf(r->err, r->errlen, "silicon file %s: ", r->path);
		if (n >= 0 && (size_t)n < r->errlen) {
			va_list ap;
			va_start(ap, fmt);
			vsnprintf(r->err + n, r->errlen - (size_t)n, fmt, ap);
			va_end(ap);
		}
	}
	return -1;
}

static void ws(reader_t *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')) r->p++;
}

static int take(reader_t *r, char c)
{
	ws(r);
	if (r->p >= r->end || *r->p != c) return bad(r, "expected '%c' at byte %ld", c, (long)(r->p - r->start));
	r->p++;
	return 0;
}

/* A string into out (NUL-terminated, at most cap - 1 bytes); escapes other than \uXXXX ASCII are kept simple. */
static int string(reader_t *r, char *out, size_t cap)
{
	size_t n = 0;
	if (take(r, '"')) return -1;
	while (r->p < r->end && *r->p != '"') {
		char c = *r->p++;
		if ((unsigned char)c < 0x20) return bad(r, "control character in a string");
		if (c == '\\') {
			if (r->p >= r->end) break;
			c = *r->p++;
			switch (c) {
			case '"': case '\\': case '/': break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'n': c = '\n'; break;
			case 'r': c = '\r'; break;
			case 't': c = '\t'; break;
			case 'u': {
				unsigned v = 0;
				for (int i = 0; i < 4; i++) {
					if (r->p >= r->end) return bad(r, "truncated \\u escape");
					char h = *r->p++;
					v = v << 4 | (unsigned)(h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : 99);
					if (v > 0xffff) return bad(r, "bad \\u escape");
				}
				if (v == 0 || v > 0x7f) return bad(r, "only ASCII \\u escapes are accepted");
				c = (char)v;
				break;
			}
			default: return bad(r, "bad escape \\%c", c);
			}
		}
		if (n + 1 < cap) out[n] = c;
		n++;
	}
	if (r->p >= r->end) return bad(r, "unterminated string");
	r->p++;
	if (n + 1 > cap) return bad(r, "string too long");
	out[n] = 0;
	return 0;
}

static int skip(reader_t *r, int depth)
{
	if (depth > MAX_DEPTH) return bad(r, "nested too deeply");
	ws(r);
	if (r->p >= r->end) return bad(r, "unexpected end");
	if (*r->p == '"') {
		/* Skip a string of any length. */
		for (r->p++; r->p < r->end && *r->p != '"'; r->p++)
			if (*r->p == '\\') r->p++;
		return take(r, '"');
	}
	if (*r->p == '{' || *r->p == '[') {
		char close = *r->p == '{' ? '}' : ']';
		bool object = close == '}';
		r->p++;
		ws(r);
		if (r->p < r->end && *r->p == close) { r->p++; return 0; }
		for (;;) {
			if (object && (skip(r, depth + 1) || take(r, ':'))) return -1;
			if (skip(r, depth + 1)) return -1;
			ws(r);
			if (r->p < r->end && *r->p == ',') { r->p++; continue; }
			return take(r, close);
		}
	}
	const char *start = r->p;
	while (r->p < r->end && strchr("0123456789+-.eEtruefalsn", *r->p)) r->p++;
	return r->p == start ? bad(r, "unexpected '%c'", *r->p) : 0;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int keys(reader_t *r, sim_silicon_t *out)
{
	char name[32], hex[2 * SIM_KEY_BYTES + 2];
	if (take(r, '{')) return -1;
	ws(r);
	if (r->p < r->end && *r->p == '}') { r->p++; return 0; }
	for (;;) {
		int slot = -1;
		if (string(r, name, sizeof(name)) || take(r, ':')) return -1;
		if (!strncmp(name, "BLOCK_KEY", 9) && name[9] >= '0' && name[9] < '0' + SIM_KEY_SLOTS && !name[10])
			slot = name[9] - '0';
		if (slot < 0) return bad(r, "keys.%s: key blocks are named BLOCK_KEY0..BLOCK_KEY5", name);
		if (out->present[slot]) return bad(r, "keys.%s appears twice", name);
		if (string(r, hex, sizeof(hex)) || strlen(hex) != 2 * SIM_KEY_BYTES)
			return bad(r, "keys.%s must be %d hex characters (the 32-byte key)", name, 2 * SIM_KEY_BYTES);
		for (int i = 0; i < SIM_KEY_BYTES; i++) {
			int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
			if (hi < 0 || lo < 0) return bad(r, "keys.%s must be %d hex characters (the 32-byte key)", name, 2 * SIM_KEY_BYTES);
			out->key[slot][i] = (uint8_t)(hi << 4 | lo);
		}
		out->present[slot] = true;
		sim_memzero(hex, sizeof(hex));
		ws(r);
		if (r->p < r->end && *r->p == ',') { r->p++; continue; }
		return take(r, '}');
	}
}

int sim_silicon_load(const char *path, sim_silicon_t *out, char *err, size_t errlen)
{
	static char text[SILICON_MAX + 1];
	char name[32];
	int result = -1;

	memset(out, 0, sizeof(*out));
	if (!path) return 0;
	FILE *f = fopen(path, "rb");
	if (!f) {
		if (errno == ENOENT) return 0;
		snprintf(err, errlen, "silicon file %s: %s", path, strerror(errno));
		return -1;
	}
	size_t n = fread(text, 1, sizeof(text), f);
	fclose(f);
	reader_t r = { text, text, text + n, path, err, errlen };
	if (n > SILICON_MAX) {
		bad(&r, "larger than %d bytes", SILICON_MAX);
		goto done;
	}
	if (take(&r, '{')) goto done;
	ws(&r);
	if (r.p < r.end && *r.p == '}') r.p++;
	else for (;;) {
		if (string(&r, name, sizeof(name)) || take(&r, ':')) goto done;
		if (!strcmp(name, "chip")) {
			if (string(&r, out->chip, sizeof(out->chip))) goto done;
		}
		else if (!strcmp(name, "keys")) {
			if (keys(&r, out)) goto done;
		}
		else if (skip(&r, 1)) goto done;
		ws(&r);
		if (r.p < r.end && *r.p == ',') { r.p++; continue; }
		if (take(&r, '}')) goto done;
		break;
	}
	ws(&r);
	if (r.p != r.end) {
		bad(&r, "text after the JSON object");
		goto done;
	}
	result = 0;
done:
	sim_memzero(text, sizeof(text));
	if (result) memset(out, 0, sizeof(*out));
	return result;
}

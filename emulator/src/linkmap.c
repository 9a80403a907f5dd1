/*
 * The link map: which modules the firmware is made of, under the names its manifests give them, which
 * of them xsl preloads, and the target's mc/config. host/firmware/link-map.ts writes it from the same
 * manifests mcconfig reads (make writes one per chip into emulator/build/maps/); this file reads it.
 * A target the manifests refuse carries an "error" line, which the emulator reports instead of running.
 */
#include "emu.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINKMAP_MAX 64

static struct { char *name; char *file; } modules[LINKMAP_MAX];
static size_t moduleCount;
static char *preloads[LINKMAP_MAX];
static size_t preloadCount;
static char *config;
static char *platform;

static char *dup_or_die(const char *text)
{
	char *copy = strdup(text);
	if (!copy) {
		emu_log("out of memory reading the link map");
		exit(1);
	}
	return copy;
}

int linkmap_load(const char *path, char *err, size_t errlen)
{
	char line[8192];
	unsigned number = 0;
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "link map %s: %s (make -C emulator writes it)", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		size_t n = strlen(line);
		char *tab, *value, *second;
		number++;
		if (n && line[n - 1] == '\n')
			line[--n] = 0;
		else if (!feof(f)) {
			snprintf(err, errlen, "link map %s:%u: line too long", path, number);
			fclose(f);
			return -1;
		}
		if (!n || line[0] == '#')
			continue;
		tab = strchr(line, '\t');
		if (!tab) {
			snprintf(err, errlen, "link map %s:%u: no tab", path, number);
			fclose(f);
			return -1;
		}
		*tab = 0;
		value = tab + 1;
		if (!strcmp(line, "module")) {
			second = strchr(value, '\t');
			if (!second || moduleCount == LINKMAP_MAX) {
				snprintf(err, errlen, "link map %s:%u: %s", path, number, second ? "too many modules" : "module without a file");
				fclose(f);
				return -1;
			}
			*second = 0;
			modules[moduleCount].name = dup_or_die(value);
			modules[moduleCount].file = dup_or_die(second + 1);
			moduleCount++;
		}
		else if (!strcmp(line, "preload")) {
			if (preloadCount == LINKMAP_MAX) {
				snprintf(err, errlen, "link map %s:%u: too many preloads", path, number);
				fclose(f);
				return -1;
			}
			preloads[preloadCount++] = dup_or_die(value);
		}
		else if (!strcmp(line, "config"))
			config = dup_or_die(value);
		else if (!strcmp(line, "platform"))
			platform = dup_or_die(value);
		else if (!strcmp(line, "error")) {
			snprintf(err, errlen, "%s does not build: %s", platform ? platform : "this target", value);
			fclose(f);
			return -1;
		}
		/* other keys (digest) are for the reader of the file, not the runtime */
	}
	fclose(f);
	if (!config)
		config = dup_or_die("{}");
	return 0;
}

const char *linkmap_file(const char *name)
{
	for (size_t i = 0; i < moduleCount; i++)
		if (!strcmp(modules[i].name, name))
			return modules[i].file;
	return NULL;
}

void linkmap_override(const char *name, const char *file)
{
	for (size_t i = 0; i < moduleCount; i++) {
		if (!strcmp(modules[i].name, name)) {
			modules[i].file = dup_or_die(file);
			return;
		}
	}
	if (moduleCount < LINKMAP_MAX) {
		modules[moduleCount].name = dup_or_die(name);
		modules[moduleCount].file = dup_or_die(file);
		moduleCount++;
	}
}

size_t linkmap_preload_count(void)
{
	return preloadCount;
}

const char *linkmap_preload(size_t index)
{
	return index < preloadCount ? preloads[index] : NULL;
}

const char *linkmap_config(void)
{
	return config ? config : "{}";
}

const char *linkmap_platform(void)
{
	return platform ? platform : "?";
}

// Reads the firmware's Moddable manifests for one build target the way mcconfig does (tools/
// mcmanifest.js): includes first, each manifest then its matching "platforms" entry, the root last;
// "modules" named by their manifest key (a "*" key names a module by its file), "preload" in order,
// "config" merged. The emulator links the firmware from this and nothing else, so a module name or a
// platform entry that the real build would not find fails in the emulator too.
//
// Includes that name $(MODDABLE) are the SDK's own (manifest_base, the io modules): they are listed
// in `sdk` and not read; the emulator provides its stand-ins for what the firmware imports from them.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, isAbsolute, join, resolve } from 'node:path';

export interface ResolvedManifest {
  /** The Moddable platform, e.g. "esp32/esp32s3" or "esp32". */
  readonly platform: string;
  /** Module name → the file that implements it (.js), in the order the manifests list them. */
  readonly modules: ReadonlyMap<string, string>;
  /** C sources of the native modules, absolute paths. */
  readonly cSources: readonly string[];
  /** Folders the manifests add to the C include path ("modules" entries ending in "/"), unexpanded. */
  readonly includeDirs: readonly string[];
  readonly preload: readonly string[];
  readonly config: Readonly<Record<string, unknown>>;
  /** "defines", merged: mcconfig writes them to mc.defines.h as MODDEF_… macros. */
  readonly defines: Readonly<Record<string, unknown>>;
  /** SDK manifests included through $(MODDABLE), not read here. */
  readonly sdk: readonly string[];
  /** Every manifest read, root last. */
  readonly manifests: readonly string[];
}

/** A manifest that mcconfig would refuse: the message names the manifest and what is wrong. */
export class ManifestError extends Error {
  override readonly name = 'ManifestError';
}

type Json = Record<string, unknown>;
interface Loaded { path: string; dir: string; json: Json; platform: Json | undefined }

const VARIABLE = /\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g;

/**
 * The module name an import specifier refers to, as xsl (tools/xsl.c) and the device's loader
 * (xs/platforms/mc/xsHosts.c) compute it: "moddable:" dropped, a ".js"/".mjs" suffix of the last
 * segment dropped, "./x" and "../x" taken relative to the importing module's name. Undefined when a
 * relative specifier climbs above the top of the names or has no referrer.
 */
export function moduleName(specifier: string, referrer: string | undefined): string | undefined {
  let spec = specifier.startsWith('moddable:') ? specifier.slice(9) : specifier;
  const last = spec.lastIndexOf('/');
  const dot = spec.lastIndexOf('.');
  if (dot > last && (spec.slice(dot) === '.js' || spec.slice(dot) === '.mjs')) spec = spec.slice(0, dot);
  let ups = 0;
  let rest = spec;
  if (spec.startsWith('./')) { ups = 1; rest = spec.slice(2); }
  else if (spec.startsWith('../')) {
    while (rest.startsWith('../')) { ups++; rest = rest.slice(3); }
    ups++;
  }
  if (ups === 0) return spec;
  if (referrer === undefined) return undefined;
  const parts = referrer.split('/');
  if (ups > parts.length) return undefined;
  parts.length -= ups;
  return [...parts, rest].join('/');
}

/**
 * mc.defines.h's macros for `defines`, as mcconfig writes them (tools/mcconfig.js generateDefines):
 * MODDEF_ + the upper-cased path joined by "_"; numbers and booleans in parentheses, a string starting
 * with "#" quoted, another string as is. Arrays and null are not used by this firmware and refused.
 */
export function definesOf(defines: Readonly<Record<string, unknown>>, prefix = 'MODDEF_'): [string, string][] {
  const out: [string, string][] = [];
  for (const [key, value] of Object.entries(defines)) {
    const name = prefix + key.toUpperCase();
    if (typeof value === 'number' || typeof value === 'boolean') out.push([name, `(${value})`]);
    else if (typeof value === 'string') out.push([name, value.startsWith('#') ? JSON.stringify(value.slice(1)) : value]);
    else if (isObject(value)) out.push(...definesOf(value, name + '_'));
    else throw new ManifestError(`defines: ${name} must be a number, boolean, string or object`);
  }
  return out;
}

/** The "platforms" entry mcconfig picks for a platform: exact, "head/*", "*\/tail", then shorter, then "...". */
export function matchPlatform(platforms: Json, platform: string): Json | undefined {
  const parts = platform.split('/');
  while (parts.length > 0) {
    const partial = parts.join('/');
    for (const key of Object.keys(platforms)) {
      const hit = key.endsWith('/*') ? partial.startsWith(key.slice(0, -1))
        : key.startsWith('*/') ? partial.endsWith(key.slice(1))
          : partial === key;
      if (hit) return platforms[key] as Json;
    }
    parts.length -= 1;
  }
  return platforms['...'] as Json | undefined;
}

function asList(value: unknown, what: string): string[] {
  if (value === undefined) return [];
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
  throw new ManifestError(`${what} must be a string or an array of strings`);
}

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function mergeInto(target: Json, source: unknown): void {
  if (!isObject(source)) return;
  for (const [k, v] of Object.entries(source)) {
    const t = target[k];
    if (isObject(t) && isObject(v)) mergeInto(t, v);
    else target[k] = isObject(v) ? structuredClone(v) : v;
  }
}

/**
 * Resolves `rootManifest` for `platform`. `vars` gives $(NAME) values (ESP32_SUBCLASS is derived from
 * the platform); an include through an unset variable is an error, except $(MODDABLE) (see above).
 */
export function resolveManifest(rootManifest: string, platform: string, vars: Record<string, string> = {}): ResolvedManifest {
  const subclass = platform.includes('/') ? platform.split('/')[1] : platform;
  const env: Record<string, string> = { ESP32_SUBCLASS: subclass, ...vars };
  const expand = (text: string, where: string): string => text.replace(VARIABLE, (_, name: string) => {
    const v = env[name];
    if (v === undefined) throw new ManifestError(`${where}: $(${name}) is not set`);
    return v;
  });

  const loaded: Loaded[] = [];
  const seen = new Set<string>();
  const sdk: string[] = [];
  const load = (path: string): void => {
    const abs = resolve(path);
    if (seen.has(abs)) return;
    seen.add(abs);
    let json: unknown;
    try { json = JSON.parse(readFileSync(abs, 'utf8')); }
    catch (e) { throw new ManifestError(`${abs}: ${(e as Error).message}`); }
    if (!isObject(json)) throw new ManifestError(`${abs}: a manifest must be a JSON object`);
    const platforms = json.platforms;
    if (platforms !== undefined && !isObject(platforms)) throw new ManifestError(`${abs}: "platforms" must be an object`);
    const entry = platforms ? matchPlatform(platforms, platform) : undefined;
    const includes = [...asList(json.include, `${abs}: "include"`), ...asList(entry?.include, `${abs}: platform "include"`)];
    for (const inc of includes) {
      if (inc.includes('$(MODDABLE)') && env.MODDABLE === undefined) { sdk.push(inc); continue; }
      const expanded = expand(inc, abs);
      load(isAbsolute(expanded) ? expanded : join(dirname(abs), expanded));
    }
    loaded.push({ path: abs, dir: dirname(abs), json, platform: entry });
  };
  load(rootManifest);

  const modules = new Map<string, string>();
  const cSources: string[] = [];
  const includeDirs: string[] = [];
  const preload: string[] = [];
  const config: Json = {};
  const defines: Json = {};
  const errors: string[] = [];
  const addModules = (section: unknown, m: Loaded): void => {
    if (section === undefined) return;
    if (!isObject(section)) throw new ManifestError(`${m.path}: "modules" must be an object`);
    for (const [name, value] of Object.entries(section)) {
      for (const text of asList(value, `${m.path}: module "${name}"`)) {
        // $(…) folders are left unexpanded: the SDK need not be here
        if (text.endsWith('/')) { includeDirs.push(text.startsWith('.') ? join(m.dir, text) + '/' : text); continue; }
        if (text.includes('$(')) continue; // an SDK file: not part of what the emulator links
        const base = isAbsolute(text) ? text : join(m.dir, text);
        const ext = extname(base);
        const stem = ext === '.js' || ext === '.c' ? base.slice(0, -ext.length) : base;
        const js = stem + '.js';
        const c = stem + '.c';
        const moduleName = name === '*' ? stem.slice(stem.lastIndexOf('/') + 1) : name;
        if (existsSync(js) && statSync(js).isFile()) {
          if (modules.has(moduleName)) throw new ManifestError(`${m.path}: module "${moduleName}" is named twice`);
          modules.set(moduleName, js);
        }
        if (existsSync(c) && statSync(c).isFile()) cSources.push(c);
        if (!existsSync(js) && !existsSync(c) && !existsSync(stem + '.h')) {
          throw new ManifestError(`${m.path}: module "${moduleName}": ${stem}(.js|.c) not found`);
        }
      }
    }
  };
  for (const m of loaded) {
    for (const part of [m.json, m.platform]) {
      if (!part) continue;
      if (part.error !== undefined) errors.push(...asList(part.error, `${m.path}: "error"`));
      addModules(part.modules, m);
      preload.push(...asList(part.preload, `${m.path}: "preload"`));
      mergeInto(config, part.config);
      mergeInto(defines, part.defines);
    }
  }
  if (errors.length > 0) throw new ManifestError(`${platform}: ${errors.join('; ')}`);
  for (const name of preload) {
    if (!modules.has(name)) throw new ManifestError(`${platform}: preload "${name}" is not a module of the manifests`);
  }
  return Object.freeze({
    platform, modules, cSources, includeDirs, preload, config, defines, sdk, manifests: loaded.map((m) => m.path),
  });
}

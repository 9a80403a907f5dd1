// The typed form of `espefuse summary --format json`: a JSON object keyed by eFuse field name, each
// {value, raw_value, readable, writeable, ...} (field names checked against esptool 5.x output for
// esp32s3 and esp32c3 virtual images). readable=false on BLOCK_KEYn is its RD_DIS bit, writeable=false
// its WR_DIS bit. The parser throws nothing but EspefuseError, whatever it is given.
import { PURPOSES } from '../../protocol/index.js';
import { EspefuseError } from '../errors.js';

/** One key block as espefuse reports it (not the device's own view, protocol's KeyBlockInfo). */
export interface EfuseKeyBlock {
  block: string;
  slot: number;
  /** Purpose name as espefuse prints it (USER, HMAC_UP, ...). */
  purpose: string;
  purposeCode: number;
  readProtected: boolean;
  writeProtected: boolean;
  /** KEY_PURPOSE_n can still be programmed (its write-protect bit is clear). */
  purposeWritable: boolean;
  /** The block reads as all zeros (unknown, so false, when it is read-protected). */
  empty: boolean;
  /** esp_efuse_key_block_unused(): purpose USER, not read- or write-protected, empty. */
  unused: boolean;
}

export interface EfuseSummary {
  chip: string;
  /** Factory MAC as 12 lowercase hex digits: the device id. */
  mac: string;
  keys: EfuseKeyBlock[];
  secureBoot: boolean;
  flashEncryption: boolean;
  /** RD_DIS can still be programmed; Secure Boot V2 write-locks it, and then no key can be read-protected. */
  rdDisWritable: boolean;
  revision: { major: number; minor: number };
}

interface Field { value?: unknown; raw_value?: unknown; readable?: unknown; writeable?: unknown }

function bad(why: string): EspefuseError {
  return new EspefuseError(`espefuse summary output is not what was expected (${why})`, 'ESPEFUSE_OUTPUT');
}

function rawInt(f: Field, name: string): bigint {
  const r = f.raw_value;
  if (typeof r === 'number' && Number.isInteger(r) && r >= 0) return BigInt(r);
  if (typeof r === 'string' && /^0x[0-9a-fA-F]+$/.test(r)) return BigInt(r);
  throw bad(`${name}.raw_value is not a hex number`);
}

function flag(f: Field, prop: 'readable' | 'writeable', name: string): boolean {
  const v = f[prop];
  if (typeof v !== 'boolean') throw bad(`${name}.${prop} is not true or false`);
  return v;
}

function popcount(n: bigint): number {
  let c = 0;
  for (let v = n; v > 0n; v >>= 1n) c += Number(v & 1n);
  return c;
}

/** Parses summary JSON text (or the already-parsed object) for `chip`. */
export function parseSummary(input: unknown, chip: string): EfuseSummary {
  try {
    return parse(input, chip);
  } catch (err) {
    if (err instanceof EspefuseError) throw err;
    throw bad(err instanceof Error ? err.message : String(err));
  }
}

function parse(input: unknown, chip: string): EfuseSummary {
  let doc: unknown = input;
  if (typeof input === 'string') {
    try { doc = JSON.parse(input); } catch { throw bad('not JSON'); }
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw bad('not a JSON object');
  const fields = doc as Record<string, unknown>;
  const get = (name: string): Field => {
    const f = fields[name];
    if (typeof f !== 'object' || f === null || Array.isArray(f)) throw bad(`no field ${name}`);
    return f as Field;
  };
  const opt = (name: string): Field | undefined => (name in fields ? get(name) : undefined);

  const macField = get('MAC');
  const m = typeof macField.value === 'string' ? /^([0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5})\b/.exec(macField.value) : null;
  if (!m) throw bad('MAC.value is not a MAC address');
  const mac = m[1].replace(/:/g, '').toLowerCase();

  const keys: EfuseKeyBlock[] = [];
  for (let slot = 0; slot < 6; slot++) {
    const block = `BLOCK_KEY${slot}`;
    const kf = opt(block);
    const pf = opt(`KEY_PURPOSE_${slot}`);
    if (!kf || !pf) continue; // chips without key purposes (esp32c2) have no HMAC key blocks
    const purposeCode = Number(rawInt(pf, `KEY_PURPOSE_${slot}`));
    const purpose = typeof pf.value === 'string' ? pf.value : (PURPOSES[purposeCode] ?? `UNKNOWN(${purposeCode})`);
    const readProtected = !flag(kf, 'readable', block);
    const writeProtected = !flag(kf, 'writeable', block);
    const empty = !readProtected && rawInt(kf, block) === 0n;
    keys.push({
      block, slot, purpose, purposeCode, readProtected, writeProtected,
      purposeWritable: flag(pf, 'writeable', `KEY_PURPOSE_${slot}`),
      empty,
      unused: purposeCode === 0 && !readProtected && !writeProtected && empty,
    });
  }
  const sb = get('SECURE_BOOT_EN');
  const crypt = opt('SPI_BOOT_CRYPT_CNT');
  const num = (name: string): number => {
    const f = opt(name);
    return f && typeof f.value === 'number' && Number.isInteger(f.value) ? f.value : 0;
  };
  return {
    chip,
    mac,
    keys,
    secureBoot: sb.value === true || rawInt(sb, 'SECURE_BOOT_EN') !== 0n,
    // Flash encryption is on while an odd number of SPI_BOOT_CRYPT_CNT bits are set.
    flashEncryption: crypt ? popcount(rawInt(crypt, 'SPI_BOOT_CRYPT_CNT')) % 2 === 1 : false,
    rdDisWritable: flag(get('RD_DIS'), 'writeable', 'RD_DIS'),
    revision: { major: num('WAFER_VERSION_MAJOR'), minor: num('WAFER_VERSION_MINOR') },
  };
}

/** The state of one key block, or EspefuseError if the chip has no such block. */
export function keyBlock(s: EfuseSummary, block: string): EfuseKeyBlock {
  const k = s.keys.find((b) => b.block === block);
  if (!k) throw new EspefuseError(`${s.chip} has no key block ${block}`, 'ESPEFUSE_BLOCK');
  return k;
}

/** Burned as this project burns: purpose HMAC_UP and read-protected. */
export function isBurnedHmacUp(k: EfuseKeyBlock): boolean {
  return k.purpose === 'HMAC_UP' && k.readProtected;
}

/** One line for messages: "purpose HMAC_UP, read-protected, write-protected". */
export function describeBlock(k: EfuseKeyBlock): string {
  const parts = [`purpose ${k.purpose}`];
  parts.push(k.readProtected ? 'read-protected' : 'readable');
  if (k.writeProtected) parts.push('write-protected');
  if (!k.readProtected) parts.push(k.empty ? 'empty' : 'holds data');
  return parts.join(', ');
}

// Virtual chips: an eFuse image made by the real espefuse, plus the silicon side file (silicon.ts);
// the emulator runs from the pair.
//
// A fresh image gets its factory MAC through espefuse's own `--token` loader (an EFSR dump token),
// since `burn-efuse MAC` is refused ("Burning MAC is not supported"), as on silicon.
import { spawn } from 'node:child_process';
import { getRandomValues } from 'node:crypto';
import { link, mkdir, mkdtemp, open, readFile, rm, stat, unlink } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { requireChip, toHex } from '../../protocol/index.js';
import { describeIoError, syncDir, writeFileAtomic } from '../atomic.js';
import { EspefuseError } from '../errors.js';
import { parseDeviceId } from '../../protocol/deviceid.js';
import { espefuseErrorText, type EspefuseOptions } from './driver.js';
import { findEspefuse } from './locate.js';
import { siliconPath } from './silicon.js';

export { readSilicon, removeSiliconKey, siliconPath, writeSiliconKey, type Silicon } from './silicon.js';
import { type EfuseSummary, parseSummary } from './summary.js';
import { childEnv } from '../childenv.js';

/** A random locally administered unicast MAC, so every chip of a batch has its own device id. */
export function randomMac(): string {
  const b = getRandomValues(new Uint8Array(6));
  b[0] = (b[0] & 0xfc) | 0x02;
  return toHex(b);
}

interface Template { blocks: number[]; macBlock: number; macOffset: number }
const templates = new Map<string, Promise<Template>>();

/** Block sizes (from `dump`) and where the MAC lives (from the summary) for `chip`, asked of espefuse once. */
function template(chip: string, opts: EspefuseOptions): Promise<Template> {
  let t = templates.get(chip);
  if (!t) {
    t = readTemplate(chip, opts);
    t.catch(() => templates.delete(chip));
    templates.set(chip, t);
  }
  return t;
}

async function readTemplate(chip: string, opts: EspefuseOptions): Promise<Template> {
  const dir = await mkdtemp(join(tmpdir(), 'efuse-attest-chip-'));
  try {
    const file = join(dir, 'summary.json');
    // In-memory virtual chip: no --path-efuse-file, nothing written.
    const out = await runRaw(opts.bin ?? findEspefuse(), ['--chip', chip, '--virt', 'dump', 'summary', '--format', 'json', '--file', file]);
    const blocks: number[] = [];
    for (const m of out.matchAll(/\[\s*(\d+)\s*\]\s+dump:((?:\s+[0-9a-fA-F]{8})+)/g)) blocks[Number(m[1])] = m[2].trim().split(/\s+/).length * 4;
    if (blocks.length === 0 || blocks.some((n) => n === undefined)) throw new EspefuseError(`espefuse dump for ${chip} did not list its eFuse blocks`, 'ESPEFUSE_OUTPUT');
    const mac = (JSON.parse(await readFile(file, 'utf8')) as Record<string, { block?: unknown; word?: unknown; pos?: unknown; bit_len?: unknown }>).MAC;
    if (!mac || typeof mac.block !== 'number' || typeof mac.word !== 'number' || typeof mac.pos !== 'number' || mac.bit_len !== 48 || mac.pos % 8 !== 0) {
      throw new EspefuseError(`espefuse summary for ${chip} does not locate the MAC field`, 'ESPEFUSE_OUTPUT');
    }
    return { blocks, macBlock: mac.block, macOffset: mac.word * 4 + mac.pos / 8 };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Runs espefuse with exactly `args` (no target options added); its whole output on success. */
function runRaw(bin: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv({ NO_COLOR: '1', TERM: 'dumb', COLUMNS: '200' }) });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.on('error', (err) => reject(new EspefuseError(`cannot run espefuse (${bin}): ${err.message}`, 'ESPEFUSE_MISSING', { cause: err })));
    child.on('close', (code) => {
      if (code === 0) resolve(out);
      else reject(new EspefuseError(`espefuse failed making a virtual chip (exit ${code}): ${espefuseErrorText(out)}`, 'ESPEFUSE_FAILED'));
    });
  });
}

/** An EFSR token (espefuse efuse/token.py): blocks as unpadded base64url, CRC32 of the prefix. */
export function efuseToken(chip: string, t: Template, mac: Uint8Array): string {
  const pieces = t.blocks.map((len, i) => {
    if (i !== t.macBlock) return '';
    const b = new Uint8Array(len);
    // The MAC field reads the bytes reversed: aa:bb:cc:dd:ee:ff is stored ff ee dd cc bb aa.
    for (let j = 0; j < 6; j++) b[t.macOffset + j] = mac[5 - j];
    return Buffer.from(b).toString('base64url');
  });
  const prefix = `EFSR:${chip}:000:${pieces.join(':')}::`;
  const crc = Buffer.alloc(4);
  crc.writeUInt32LE(crc32(prefix) >>> 0);
  return prefix + crc.toString('base64url');
}

export interface CreateChipOptions extends EspefuseOptions {
  chip: string;
  out: string;
  /** Factory MAC (any common notation); default a random locally administered one. */
  mac?: string;
  /** Replace an existing image (and its side file). */
  force?: boolean;
}

export interface CreatedChip { image: string; silicon: string; chip: string; deviceId: string; summary: EfuseSummary }

/** Makes a fresh virtual chip: the eFuse image (blank but for the MAC) and an empty silicon side file. */
export async function createVirtualChip(opts: CreateChipOptions): Promise<CreatedChip> {
  const { chip, out } = opts;
  requireChip(chip, 'virtual');
  if (typeof out !== 'string' || out === '') throw new TypeError('out must be a path');
  const deviceId = opts.mac === undefined ? randomMac() : parseDeviceId(opts.mac, 'mac');
  const mac = Uint8Array.from(Buffer.from(deviceId, 'hex'));
  if (mac.every((x) => x === 0)) throw new RangeError('mac must not be all zeros');
  if (mac[0] & 1) throw new RangeError(`mac ${deviceId} is a multicast address; a factory MAC is unicast`);
  if (!opts.force) {
    for (const p of [out, siliconPath(out)]) {
      if (await stat(p).then(() => true, () => false)) throw new EspefuseError(`${p} already exists (give --force to replace it)`, 'CHIP_EXISTS');
    }
  }
  const t = await template(chip, opts);
  if (t.macOffset + 6 > (t.blocks[t.macBlock] ?? 0)) throw new EspefuseError(`espefuse reports a MAC outside block ${t.macBlock} for ${chip}`, 'ESPEFUSE_OUTPUT');
  await mkdir(dirname(out), { recursive: true });
  const tmpImage = join(dirname(out), `.${process.pid}.${randomMac()}.chip.tmp`);
  const work = await mkdtemp(join(tmpdir(), 'efuse-attest-chip-'));
  try {
    const json = join(work, 'summary.json');
    // espefuse writes the image from the token, then reads it back for the summary.
    await runRaw(opts.bin ?? findEspefuse(), ['--chip', chip, '--virt', '--token', efuseToken(chip, t, mac), '--path-efuse-file', tmpImage, 'summary', '--format', 'json', '--file', json]);
    const summary = parseSummary(await readFile(json, 'utf8'), chip);
    const size = (await stat(tmpImage)).size;
    if (summary.mac !== deviceId || size !== requireChip(chip).imageSize || summary.keys.some((k) => !k.unused)) {
      throw new EspefuseError(`espefuse made an image that does not read back as a blank ${chip} with MAC ${deviceId}`, 'ESPEFUSE_OUTPUT');
    }
    const fh = await open(tmpImage, 'r+');
    try { await fh.sync(); } finally { await fh.close(); }
    if (opts.force) await unlink(out).catch(() => {});
    try {
      await link(tmpImage, out); // never replaces an image that appeared meanwhile
    } catch (err) {
      throw new EspefuseError(`cannot create ${out}: ${describeIoError(err)}`, 'CHIP_EXISTS', { cause: err });
    }
    await syncDir(dirname(out));
    await writeFileAtomic(siliconPath(out), JSON.stringify({ chip, keys: {} }, null, 2) + '\n', { mode: 0o600 });
    return { image: out, silicon: siliconPath(out), chip, deviceId, summary };
  } finally {
    await unlink(tmpImage).catch(() => {});
    await rm(work, { recursive: true, force: true });
  }
}

// efuse-attest escrow: the key vault. add (make and escrow a key for a device), import (escrow an
// existing key file), list (records, never keys), export (a key file, or the key printed with
// --reveal). Keys are shown only where the user asks for them.
import { readFile } from 'node:fs/promises';
import { toHex } from '../../../protocol/index.js';
import { describeIoError } from '../../atomic.js';
import { EscrowError, UsageError } from '../../errors.js';
import { blockName, type Derivation, type EscrowEntry, type EscrowState, newRecord, STATES } from '../../escrow/store.js';
import { DERIVATION_SCHEME, deriveDeviceKey, generateKey, masterId, normalizeDeviceId, wipe } from '../../keys.js';
import { type Command, required, str, type Values } from '../command.js';
import { openVault, readMasterFile, VAULT_OPTIONS, VAULT_USAGE, writeKeyFile } from '../secrets.js';

async function readKey(path: string): Promise<Uint8Array> {
  let bytes: Buffer;
  try { bytes = await readFile(path); } catch (err) { throw new UsageError(`cannot read key file ${path}: ${describeIoError(err)}`); }
  if (bytes.length !== 32) throw new UsageError(`key file ${path} must hold exactly 32 raw bytes (as espefuse takes), it has ${bytes.length}`);
  const key = new Uint8Array(bytes);
  bytes.fill(0);
  return key;
}

function target(values: Values): { deviceId: string; block: string } {
  return { deviceId: normalizeDeviceId(required(values, 'device-id'), '--device-id'), block: blockName(str(values, 'block') ?? 'BLOCK_KEY0', '--block') };
}

export const escrow: Command = {
  name: 'escrow',
  summary: 'the key vault: add, import, list, export escrowed device keys',
  usage: `efuse-attest escrow list
efuse-attest escrow add --device-id HEX --chip esp32s3 [--block BLOCK_KEY0] [--master FILE] [--out key.bin]
efuse-attest escrow import --device-id HEX --chip esp32s3 [--block BLOCK_KEY0] --key key.bin [--state S]
efuse-attest escrow export --device-id HEX [--block BLOCK_KEY0] (--out key.bin [--force] | --reveal)

  add      make a key (random, or derived with --master) and escrow it, e.g. for a burn done
           elsewhere; --out also writes it as a key file
  import   escrow an existing raw 32-byte key file (a device burned by hand); --state says what
           is known of it: escrowed (default), burned or verified
  list     every record: device, chip, block, purpose, state, times — never keys
  export   write a record's key as a raw key file (0600), or print it with --reveal
  --device-id HEX   the device's factory MAC (12 hex digits)
  --block NAME      BLOCK_KEY0..BLOCK_KEY5 (default BLOCK_KEY0)
${VAULT_USAGE}`,
  options: {
    ...VAULT_OPTIONS,
    'device-id': { type: 'string' }, chip: { type: 'string' }, block: { type: 'string' }, master: { type: 'string' },
    key: { type: 'string', short: 'k' }, out: { type: 'string', short: 'o' }, force: { type: 'boolean' }, reveal: { type: 'boolean' },
    state: { type: 'string' },
  },
  positionals: true,
  async run(values, positionals) {
    const [sub, ...extra] = positionals;
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
    switch (sub) {
      case 'list': {
        const vault = await openVault(values, { mustExist: true });
        return { vault: vault.location, records: await vault.list() };
      }
      case 'add':
      case 'import': {
        const { deviceId, block } = target(values);
        const chip = required(values, 'chip');
        let key: Uint8Array;
        let derivation: Derivation | undefined;
        let state: EscrowState = 'escrowed';
        if (sub === 'import') {
          if (str(values, 'master')) throw new UsageError('escrow import takes --key; use escrow add --master to derive');
          key = await readKey(required(values, 'key'));
          const s = str(values, 'state') ?? 'escrowed';
          if (!STATES.includes(s as EscrowState)) throw new UsageError(`--state must be one of ${STATES.join(', ')}`);
          state = s as EscrowState;
        } else {
          if (str(values, 'key')) throw new UsageError('escrow add makes the key; use escrow import --key to escrow a key file');
          const masterPath = str(values, 'master');
          if (masterPath) {
            const master = await readMasterFile(masterPath);
            key = deriveDeviceKey(master, deviceId);
            derivation = { scheme: DERIVATION_SCHEME, registrationId: deviceId, masterId: masterId(master) };
            wipe(master);
          } else {
            key = generateKey();
          }
        }
        try {
          const vault = await openVault(values, { mustExist: false });
          const rec = newRecord({ deviceId, chip, block, purpose: 'HMAC_UP', key, state, ...(derivation ? { derivation } : {}) });
          await vault.put(rec);
          const out = str(values, 'out');
          if (sub === 'add' && out) await writeKeyFile(out, key, values.force === true);
          const stored = (await vault.list()).find((e) => e.deviceId === deviceId && e.block === block);
          return { vault: vault.location, record: stored, ...(sub === 'add' && out ? { out } : {}) };
        } finally {
          wipe(key);
        }
      }
      case 'export': {
        const { deviceId, block } = target(values);
        const out = str(values, 'out');
        const reveal = values.reveal === true;
        if (!out && !reveal) throw new UsageError('give --out FILE to write the key file, or --reveal to print the key');
        const vault = await openVault(values, { mustExist: true });
        const rec = await vault.get(deviceId, block);
        if (!rec) throw new EscrowError(`the vault ${vault.location} has no key for device ${deviceId} ${block}`, 'ESCROW_MISSING');
        try {
          if (out) await writeKeyFile(out, rec.key, values.force === true);
          return { deviceId, block, state: rec.state, ...(out ? { out } : {}), ...(reveal ? { key: toHex(rec.key) } : {}) };
        } finally {
          wipe(rec.key);
        }
      }
      default:
        throw new UsageError('give a subcommand: escrow add | import | list | export');
    }
  },
  format(r: { records?: EscrowEntry[]; vault?: string; record?: EscrowEntry; out?: string; key?: string; deviceId?: string; block?: string }) {
    if (r.records) {
      if (r.records.length === 0) return `${r.vault}: no records`;
      return r.records.map((e) => `${e.deviceId}  ${e.chip.padEnd(8)} ${e.block}  ${e.purpose}  ${e.state.padEnd(8)}  ${e.createdAt}${e.derivation ? `  derived (master ${e.derivation.masterId})` : ''}`).join('\n');
    }
    if (r.record) return `escrowed ${r.record.deviceId} ${r.record.block} (${r.record.state}) in ${r.vault}${r.out ? `; key file ${r.out}` : ''}`;
    const lines: string[] = [];
    if (r.out) lines.push(`wrote the key of ${r.deviceId} ${r.block} to ${r.out}`);
    if (r.key) lines.push(r.key);
    return lines.join('\n');
  },
};

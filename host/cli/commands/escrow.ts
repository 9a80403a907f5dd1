// efuse-attest escrow: the key vault. add (make and escrow a key for a device), import (escrow an
// existing key file), list (records, never keys), export (a key file, or the key printed with
// --reveal). Keys are shown only where the user asks for them.
import { toHex } from '../../../protocol/index.js';
import { EscrowError, UsageError } from '../../errors.js';
import { type Derivation, type EscrowEntry, type EscrowState, newRecord, STATES } from '../../escrow/store.js';
import { blockName } from '../../../protocol/keyblock.js';
import { deriveKey, generateKey, wipe } from '../../keys.js';
import { parseDeviceId } from '../../../protocol/deviceid.js';
import { type Command, required, str, type Values } from '../command.js';
import { getPassphrase, openStore, type OpenedStore, readMasterFile, VAULT_OPTIONS, VAULT_USAGE, writeKeyFile } from '../secrets.js';
import { PgStore } from '../../escrow/pg.js';
import { PassphraseKek } from '../../escrow/envelope.js';
import { openPkcs11Kek } from '../../escrow/pkcs11.js';
import type { FileVault } from '../../escrow/vault.js';
import { kekInfoJson } from '../../escrow/pg.js';
import { readKeyFile } from '../files.js';

function target(values: Values): { deviceId: string; block: string } {
  return { deviceId: parseDeviceId(required(values, 'device-id'), '--device-id'), block: blockName(str(values, 'block') ?? 'BLOCK_KEY0', '--block') };
}

async function withStore<T>(values: Values, mustExist: boolean, fn: (s: OpenedStore) => Promise<T>): Promise<T> {
  const store = await openStore(values, { mustExist });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

export const escrow: Command = {
  name: 'escrow',
  summary: 'the key vault: add, import, list, export escrowed device keys',
  usage: `efuse-attest escrow list
efuse-attest escrow add --device-id HEX --chip esp32s3 [--block BLOCK_KEY0] [--master FILE] [--out key.bin]
efuse-attest escrow import --device-id HEX --chip esp32s3 [--block BLOCK_KEY0] --key key.bin [--state S]
efuse-attest escrow export --device-id HEX [--block BLOCK_KEY0] (--out key.bin [--force] | --reveal)
efuse-attest escrow rotate-kek [--escrow …] [--kek pkcs11:…] --to (pkcs11:… | passphrase --new-passphrase-file F)
efuse-attest escrow hsm-load --hsm 'pkcs11:token=verifier?pin-source=file:PIN' [--escrow …]

  add      make a key (random, or derived with --master) and escrow it, e.g. for a burn done
           elsewhere; --out also writes it as a key file
  import   escrow an existing raw 32-byte key file (a device burned by hand); --state says what
           is known of it: escrowed (default), burned or verified
  list     every record: device, chip, block, purpose, state, times — never keys
  export   write a record's key as a raw key file (0600), or print it with --reveal
  hsm-load put the keys of burned and verified records into a PKCS#11 token as non-extractable
           HMAC keys, so a verifier checks attestations and tokens there (docs/deployment.md)
  rotate-kek  re-wrap every record's data key under a new key-encryption key (a PKCS#11 key,
           made in the token if missing, or a new passphrase); device keys are not touched
  --device-id HEX   the device's factory MAC (12 hex digits)
  --block NAME      BLOCK_KEY0..BLOCK_KEY5 (default BLOCK_KEY0)
${VAULT_USAGE}`,
  options: {
    ...VAULT_OPTIONS,
    'device-id': { type: 'string' }, chip: { type: 'string' }, block: { type: 'string' }, master: { type: 'string' },
    key: { type: 'string', short: 'k' }, out: { type: 'string', short: 'o' }, force: { type: 'boolean' }, reveal: { type: 'boolean' },
    state: { type: 'string' }, to: { type: 'string' }, 'new-passphrase-file': { type: 'string' }, hsm: { type: 'string' },
  },
  positionals: true,
  async run(values, positionals) {
    const [sub, ...extra] = positionals;
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
    switch (sub) {
      case 'list':
        return withStore(values, true, async (vault) => ({ vault: vault.location, records: await vault.list() }));
      case 'hsm-load': {
        // Device keys into a PKCS#11 token as non-extractable HMAC keys, for verifiers that hold no key bytes.
        const uri = required(values, 'hsm');
        const { HsmKeyring } = await import('../../escrow/hsm.js');
        return withStore(values, true, async (store) => {
          const ring = HsmKeyring.open(uri);
          try {
            const loaded = await ring.load(store);
            return { escrow: store.location, token: uri.split('?')[0], loaded };
          } finally {
            ring.close();
          }
        });
      }
      case 'rotate-kek': {
        // Re-wraps every data key under a new KEK; the device keys' ciphertexts stay as they are.
        const to = required(values, 'to');
        return withStore(values, true, async (store) => {
          if (to.startsWith('pkcs11:')) {
            const kek = await openPkcs11Kek(to, { create: true });
            try {
              if (store instanceof PgStore) {
                const from = store.kekId;
                return { escrow: store.location, from, to: kek.id, rewrapped: await store.rotateKek(kek, { kind: 'pkcs11', json: { uri: to.split('?')[0] } }) };
              }
              const v = store as unknown as FileVault;
              return { escrow: v.location, to: kek.id, rewrapped: await v.rotateKek({ kek }) };
            } finally {
              await kek.close();
            }
          }
          if (to !== 'passphrase') throw new UsageError('--to must be pkcs11:… or passphrase');
          const pass = await getPassphrase({ 'passphrase-file': required(values, 'new-passphrase-file') }, { creating: true });
          if (store instanceof PgStore) {
            const kek = PassphraseKek.derive(pass);
            const from = store.kekId;
            return { escrow: store.location, from, to: kek.id, rewrapped: await store.rotateKek(kek, { kind: 'scrypt', json: kekInfoJson(kek.info) }) };
          }
          const v = store as unknown as FileVault;
          return { escrow: v.location, to: 'passphrase', rewrapped: await v.rotateKek({ passphrase: pass }) };
        });
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
          key = await readKeyFile(required(values, 'key'), '--key');
          const s = str(values, 'state') ?? 'escrowed';
          if (!STATES.includes(s as EscrowState)) throw new UsageError(`--state must be one of ${STATES.join(', ')}`);
          state = s as EscrowState;
        } else {
          if (str(values, 'key')) throw new UsageError('escrow add makes the key; use escrow import --key to escrow a key file');
          const masterPath = str(values, 'master');
          if (masterPath) {
            const master = await readMasterFile(masterPath);
            try {
              ({ key, derivation } = deriveKey(master, deviceId));
            } finally {
              wipe(master);
            }
          } else {
            key = generateKey();
          }
        }
        try {
          return await withStore(values, false, async (vault) => {
          const rec = newRecord({ deviceId, chip, block, purpose: 'HMAC_UP', key, state, ...(derivation ? { derivation } : {}) });
          await vault.put(rec);
          const out = str(values, 'out');
          if (sub === 'add' && out) await writeKeyFile(out, key, values.force === true);
          const stored = (await vault.list()).find((e) => e.deviceId === deviceId && e.block === block);
          return { vault: vault.location, record: stored, ...(sub === 'add' && out ? { out } : {}) };
          });
        } finally {
          wipe(key);
        }
      }
      case 'export': {
        const { deviceId, block } = target(values);
        const out = str(values, 'out');
        const reveal = values.reveal === true;
        if (!out && !reveal) throw new UsageError('give --out FILE to write the key file, or --reveal to print the key');
        return withStore(values, true, async (vault) => {
          const rec = await vault.get(deviceId, block);
          if (!rec) throw new EscrowError(`the escrow ${vault.location} has no key for device ${deviceId} ${block}`, 'ESCROW_MISSING');
          try {
            if (out) await writeKeyFile(out, rec.key, values.force === true);
            return { deviceId, block, state: rec.state, ...(out ? { out } : {}), ...(reveal ? { key: toHex(rec.key) } : {}) };
          } finally {
            wipe(rec.key);
          }
        });
      }
      default:
        throw new UsageError('give a subcommand: escrow add | import | list | export | rotate-kek | hsm-load');
    }
  },
  format(r: { records?: EscrowEntry[]; vault?: string; record?: EscrowEntry; out?: string; key?: string; deviceId?: string; block?: string; rewrapped?: number; from?: string; to?: string; escrow?: string; loaded?: number; token?: string }) {
    if (r.loaded !== undefined) return `loaded ${r.loaded} new device key(s) from ${r.escrow} into ${r.token}`;
    if (r.rewrapped !== undefined) return `re-wrapped ${r.rewrapped} data key(s) in ${r.escrow}: ${r.from ?? 'the old key'} -> ${r.to}`;
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

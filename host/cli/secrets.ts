// Options and helpers shared by the commands that handle secrets: the vault and its passphrase
// (EFUSE_ATTEST_PASSPHRASE, --passphrase-file, or a hidden prompt on the terminal), master files and
// key files. Key files are raw 32 bytes, as espefuse burn-key takes them, written 0600 and never over
// an existing file unless --force.
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { describeIoError, writeFileAtomic } from '../atomic.js';
import { AbortedError, UsageError } from '../errors.js';
import { cleanLeftovers, keyFileLeftovers } from '../escrow/leftovers.js';
import { PgStore } from '../escrow/pg.js';
import type { EscrowStore } from '../escrow/store.js';
import { FileVault } from '../escrow/vault.js';
import { MASTER_MAX, MASTER_MIN } from '../keys.js';
import { type Options, str, type Values } from './command.js';
import { readRegularFile } from './files.js';
import { printable } from './printable.js';

export const DEFAULT_VAULT = './.efuse-attest/escrow.vault';
export const DEFAULT_AUDIT = './.efuse-attest/audit.jsonl';
export const PASSPHRASE_ENV = 'EFUSE_ATTEST_PASSPHRASE';
export const NEW_PASSPHRASE_MIN = 8;

export const VAULT_OPTIONS = {
  vault: { type: 'string' },
  escrow: { type: 'string' },
  kek: { type: 'string' },
  'passphrase-file': { type: 'string' },
} as const satisfies Options;

export const VAULT_USAGE = `  --vault FILE            the escrow vault (default ${DEFAULT_VAULT})
  --escrow WHERE          the escrow: a vault FILE, or postgres://user@host:port/db (the password
                          from PGPASSWORD or ~/.pgpass, never on the command line)
  --kek pkcs11:…          wrap the keys with a key in a PKCS#11 token instead of the passphrase
                          (vault or database; docs/deployment.md)
  --passphrase-file FILE  read the vault passphrase from FILE (first line); otherwise
                          ${PASSPHRASE_ENV}, otherwise a prompt on the terminal`;

/** Reads a line from the terminal without echoing it. */
export function promptHidden(prompt: string): Promise<string> {
  const input = process.stdin;
  return new Promise((resolve, reject) => {
    process.stderr.write(prompt);
    let text = '';
    const done = (err?: Error) => {
      input.setRawMode(false);
      input.pause();
      input.off('data', onData);
      process.stderr.write('\n');
      if (err) reject(err); else resolve(text);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new AbortedError('passphrase entry cancelled'));
        if (ch === '\u0004') return done(text === '' ? new AbortedError('passphrase entry cancelled') : undefined);
        if (ch === '\u007f' || ch === '\b') text = text.slice(0, -1);
        else if (ch >= ' ') text += ch;
      }
    };
    input.setRawMode(true);
    input.setEncoding('utf8');
    input.on('data', onData);
    input.resume();
  });
}

/** Warns (stderr) when a passphrase file can be read by its group or by others. */
export function warnIfShared(file: string, st: { isFile(): boolean; mode: number } | undefined): boolean {
  if (!st?.isFile() || (st.mode & 0o044) === 0) return false;
  process.stderr.write(`efuse-attest: warning: --passphrase-file ${printable(file)} is readable by ${(st.mode & 0o004) ? 'every user' : 'its group'} ` +
    `(mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}); make it private: chmod 600 ${printable(file)}\n`);
  return true;
}

/** The vault passphrase: --passphrase-file, then the environment, then the terminal. */
export async function getPassphrase(values: Values, opts: { creating: boolean }): Promise<string> {
  const file = str(values, 'passphrase-file');
  let pass: string | undefined;
  if (file !== undefined) {
    let text: string;
    try { text = await readFile(file, 'utf8'); } catch (err) { throw new UsageError(`cannot read --passphrase-file ${file}: ${describeIoError(err)}`); }
    pass = text.split(/\r?\n/)[0];
    if (!pass) throw new UsageError(`--passphrase-file ${file} is empty`);
    warnIfShared(file, await stat(file).catch(() => undefined));
  } else if (process.env[PASSPHRASE_ENV]) {
    pass = process.env[PASSPHRASE_ENV];
  } else if (process.stdin.isTTY) {
    pass = await promptHidden(opts.creating ? 'New vault passphrase: ' : 'Vault passphrase: ');
    if (opts.creating && pass.length >= NEW_PASSPHRASE_MIN && (await promptHidden('Repeat the passphrase: ')) !== pass) {
      throw new UsageError('the two passphrases differ; nothing was created');
    }
  } else {
    throw new UsageError(`the vault passphrase is needed: set ${PASSPHRASE_ENV}, give --passphrase-file FILE, or run on a terminal`);
  }
  if (!pass) throw new UsageError('the vault passphrase must not be empty');
  if (opts.creating && pass.length < NEW_PASSPHRASE_MIN) throw new UsageError(`a new vault needs a passphrase of at least ${NEW_PASSPHRASE_MIN} characters`);
  return pass;
}

export function vaultPath(values: Values): string {
  const escrow = str(values, 'escrow');
  if (escrow !== undefined && str(values, 'vault') !== undefined) throw new UsageError('give --escrow or --vault, not both');
  if (escrow !== undefined && isPostgresUrl(escrow)) throw new UsageError('--escrow names a database here; this needs a vault file');
  return escrow ?? str(values, 'vault') ?? DEFAULT_VAULT;
}

export const isPostgresUrl = (s: string): boolean => /^postgres(ql)?:\/\//.test(s);

/** A store the command opened and must close. */
export type OpenedStore = EscrowStore & { close(): Promise<void> };

/** The database URL of --escrow, or undefined for a vault file. */
export function escrowUrl(values: Values): string | undefined {
  const escrow = str(values, 'escrow');
  if (escrow !== undefined && str(values, 'vault') !== undefined) throw new UsageError('give --escrow or --vault, not both');
  if (escrow === undefined || !isPostgresUrl(escrow)) return undefined;
  try { new URL(escrow); } catch { throw new UsageError('--escrow must be a valid postgres:// URL'); }
  if (new URL(escrow).password !== '') throw new UsageError('--escrow must not carry a password (argv is visible in ps): use PGPASSWORD or ~/.pgpass');
  return escrow;
}

/**
 * Opens the escrow named by --escrow/--vault: the file vault (the default) or the PostgreSQL store.
 * `create: false` (dry runs) creates nothing: a store that does not exist yet reads as empty.
 */
export async function openStore(values: Values, opts: { mustExist: boolean; create?: boolean }): Promise<OpenedStore> {
  const url = escrowUrl(values);
  const kekUri = str(values, 'kek');
  if (url === undefined && kekUri !== undefined) {
    // A vault wrapped by a token key: no passphrase involved.
    const path = vaultPath(values);
    const { openPkcs11Kek } = await import('../escrow/pkcs11.js');
    const kek = await openPkcs11Kek(kekUri);
    try {
      const v = await FileVault.open(path, { kek });
      if (opts.mustExist && !(await v.exists())) throw new UsageError(`there is no vault at ${v.location} (give --vault FILE)`);
      return Object.assign(v, { close: async () => { await kek.close(); } });
    } catch (err) {
      await kek.close();
      throw err;
    }
  }
  if (url === undefined) {
    const v = await openVault(values, opts);
    return Object.assign(v, { close: async () => {} });
  }
  if (kekUri !== undefined) {
    const { openPkcs11Kek } = await import('../escrow/pkcs11.js');
    const kek = await openPkcs11Kek(kekUri);
    try {
      const s = await PgStore.open(url, { kek, create: opts.create !== false });
      return Object.assign(s, { close: async () => { await PgStore.prototype.close.call(s); await kek.close?.(); } });
    } catch (err) {
      await kek.close?.();
      throw err;
    }
  }
  return PgStore.open(url, { passphrase: await getPassphrase(values, { creating: false }), create: opts.create !== false, newPassphraseMin: NEW_PASSPHRASE_MIN });
}

/**
 * Opens the vault named by --vault. `mustExist`: a missing vault is an error (reading commands);
 * otherwise it is created at the first write, with a passphrase asked twice on a terminal.
 */
export async function openVault(values: Values, opts: { mustExist: boolean }): Promise<FileVault> {
  const path = vaultPath(values);
  const exists = await FileVault.exists(path);
  if (!exists && opts.mustExist) throw new UsageError(`there is no vault at ${resolve(path)} (give --vault FILE)`);
  return FileVault.open(path, { passphrase: await getPassphrase(values, { creating: !exists }) });
}

/** Reads a master secret file: raw bytes, as `base64 -d` of a DPS group key gives. */
export async function readMasterFile(path: string): Promise<Uint8Array> {
  const bytes = await readRegularFile(path, '--master', MASTER_MAX);
  try {
    // A DPS group key pasted as base64 text would silently derive different keys: refuse it.
    const text = bytes.toString('latin1').trim();
    if (/^[A-Za-z0-9+/]{20,}={0,2}$/.test(text) && text.length % 4 === 0) {
      throw new UsageError(`--master ${path} looks like text (base64 or hex); the master is the raw decoded bytes (e.g. \`base64 -d < group-key.txt > ${path}\`)`);
    }
    if (bytes.length < MASTER_MIN) throw new UsageError(`--master ${path} must hold ${MASTER_MIN}..${MASTER_MAX} bytes, it has ${bytes.length}`);
    return new Uint8Array(bytes);
  } finally {
    bytes.fill(0);
  }
}

/** Writes a raw key file, 0600, atomically; an existing file only with `force`. */
export async function writeKeyFile(path: string, key: Uint8Array, force: boolean): Promise<void> {
  // Temp copies of key files left by a run killed mid-write (raw key bytes): wiped and removed first.
  await cleanLeftovers(dirname(resolve(path)), keyFileLeftovers(basename(path)));
  try {
    await writeFileAtomic(path, key, { mode: 0o600, exclusive: !force });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new UsageError(`${path} already exists (give --force to replace it)`);
    throw new UsageError(`cannot write key file ${path}: ${describeIoError(err)}`);
  }
}

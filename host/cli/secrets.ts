// Options and helpers shared by the commands that handle secrets: the vault and its passphrase
// (EFUSE_ATTEST_PASSPHRASE, --passphrase-file, or a hidden prompt on the terminal), master files and
// key files. Key files are raw 32 bytes, as espefuse burn-key takes them, written 0600 and never over
// an existing file unless --force.
import { readFile, stat } from 'node:fs/promises';
import { describeIoError, writeFileAtomic } from '../atomic.js';
import { AbortedError, UsageError } from '../errors.js';
import { FileVault } from '../escrow/vault.js';
import { MASTER_MAX, MASTER_MIN } from '../keys.js';
import { type Options, str, type Values } from './command.js';
import { printable } from './printable.js';

export const DEFAULT_VAULT = './.efuse-attest/escrow.vault';
export const DEFAULT_AUDIT = './.efuse-attest/audit.jsonl';
export const PASSPHRASE_ENV = 'EFUSE_ATTEST_PASSPHRASE';
export const NEW_PASSPHRASE_MIN = 8;

export const VAULT_OPTIONS = {
  vault: { type: 'string' },
  'passphrase-file': { type: 'string' },
} as const satisfies Options;

export const VAULT_USAGE = `  --vault FILE            the escrow vault (default ${DEFAULT_VAULT})
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
  return str(values, 'vault') ?? DEFAULT_VAULT;
}

/**
 * Opens the vault named by --vault. `mustExist`: a missing vault is an error (reading commands);
 * otherwise it is created at the first write, with a passphrase asked twice on a terminal.
 */
export async function openVault(values: Values, opts: { mustExist: boolean }): Promise<FileVault> {
  const path = vaultPath(values);
  const probe = new FileVault(path, { passphrase: 'probe' });
  const exists = await probe.exists();
  if (!exists && opts.mustExist) throw new UsageError(`there is no vault at ${probe.location} (give --vault FILE)`);
  return FileVault.open(path, { passphrase: await getPassphrase(values, { creating: !exists }) });
}

/** Reads a master secret file: raw bytes, as `base64 -d` of a DPS group key gives. */
export async function readMasterFile(path: string): Promise<Uint8Array> {
  let bytes: Buffer;
  try { bytes = await readFile(path); } catch (err) { throw new UsageError(`cannot read --master ${path}: ${describeIoError(err)}`); }
  // A DPS group key pasted as base64 text would silently derive different keys: refuse it.
  const text = bytes.toString('latin1').trim();
  if (/^[A-Za-z0-9+/]{20,}={0,2}$/.test(text) && text.length % 4 === 0) {
    throw new UsageError(`--master ${path} looks like text (base64 or hex); the master is the raw decoded bytes (e.g. \`base64 -d < group-key.txt > ${path}\`)`);
  }
  if (bytes.length < MASTER_MIN || bytes.length > MASTER_MAX) throw new UsageError(`--master ${path} must hold ${MASTER_MIN}..${MASTER_MAX} bytes, it has ${bytes.length}`);
  return new Uint8Array(bytes);
}

/** Writes a raw key file, 0600, atomically; an existing file only with `force`. */
export async function writeKeyFile(path: string, key: Uint8Array, force: boolean): Promise<void> {
  try {
    await writeFileAtomic(path, key, { mode: 0o600, exclusive: !force });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new UsageError(`${path} already exists (give --force to replace it)`);
    throw new UsageError(`cannot write key file ${path}: ${describeIoError(err)}`);
  }
}

// A SoftHSM2 token for the tests (Debian's softhsm2, installed by scripts/setup.sh): one token
// directory per test run in a temp dir, named to the library by SOFTHSM2_CONF, and tokens initialised
// with softhsm2-util. Removed when the run exits.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_MODULE } from '../../host/escrow/pkcs11.js';

export const SO_PIN = '87654321';

export function haveSoftHsm(): boolean {
  return existsSync(DEFAULT_MODULE) && spawnSync('softhsm2-util', ['--version']).status === 0;
}

let dir: string | undefined;

/** The token directory of this run; SOFTHSM2_CONF points at it (for this process and its children). */
export function softhsmDir(): string {
  if (!dir) {
    dir = mkdtempSync(join(tmpdir(), 'efa-hsm-'));
    mkdirSync(join(dir, 'tokens'), { mode: 0o700 });
    const conf = join(dir, 'softhsm2.conf');
    writeFileSync(conf, `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`);
    process.env.SOFTHSM2_CONF = conf;
    const d = dir;
    process.once('exit', () => rmSync(d, { recursive: true, force: true }));
  }
  return dir;
}

let count = 0;
const pool: { label: string; pinFile: string; pin: string }[] = [];
const POOL = 12;

function initToken(pin: string): { label: string; pinFile: string; pin: string } {
  const d = softhsmDir();
  const label = `efa-${process.pid}-${++count}`;
  const r = spawnSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', SO_PIN], { encoding: 'utf8', env: process.env });
  if (r.status !== 0) throw new Error(`softhsm2-util --init-token failed: ${r.stderr}${r.stdout}`);
  const pinFile = join(d, `${label}.pin`);
  writeFileSync(pinFile, pin + '\n', { mode: 0o600 });
  return { label, pinFile, pin };
}

/**
 * A new token with its user PIN in a file. SoftHSM2 reads its token directory when the library is
 * initialised, so the tokens of a run are all made before the first one is opened in this process.
 */
export function newToken(): { label: string; pinFile: string; pin: string } {
  if (count === 0) for (let i = 0; i < POOL; i++) pool.push(initToken('1234'));
  const t = pool.shift();
  if (!t) throw new Error(`the tests use more than ${POOL} SoftHSM2 tokens: raise POOL`);
  return t;
}

/**
 * A test process that runs the suites again (a mutation-testing runner reruns them in one process)
 * would use up the pool: at the start of each later run, once the last run has closed every session
 * and so finalized the library, the pool is topped up; the next C_Initialize sees the new tokens.
 */
if (typeof before === 'function') before(() => { if (count > 0) while (pool.length < POOL) pool.push(initToken('1234')); });

export function kekUri(label: string, pinFile: string, object = 'escrow-kek'): string {
  return `pkcs11:token=${label};object=${object}?module-path=${DEFAULT_MODULE}&pin-source=file:${pinFile}`;
}

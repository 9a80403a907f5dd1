// Escrow calls for child-call.ts: ones with arguments JSON cannot carry (a filter function), and
// PKCS#11 sequences that need a process of their own, with its own SoftHSM2 token directory (the
// library is initialised once per process, and a test process has other suites' sessions open).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HsmKeyring } from '../../host/escrow/hsm.js';
import { cleanLeftovers } from '../../host/escrow/leftovers.js';
import { DEFAULT_MODULE, TokenSession } from '../../host/escrow/pkcs11.js';

/** cleanLeftovers over every target name, with the key-copy wipe. */
export const cleanAllWiping = (dir: string): Promise<string[]> => cleanLeftovers(dir, { names: () => true, wipe: true });

/** A token directory for this process only, named to the library by SOFTHSM2_CONF; removed at exit. */
function ownTokens(): void {
  const dir = mkdtempSync(join(tmpdir(), 'efa-hsmc-'));
  mkdirSync(join(dir, 'tokens'), { mode: 0o700 });
  writeFileSync(join(dir, 'softhsm2.conf'), `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  process.env.SOFTHSM2_CONF = join(dir, 'softhsm2.conf');
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
}

function initToken(label: string): void {
  const r = spawnSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--pin', '1234', '--so-pin', '87654321'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`softhsm2-util --init-token failed: ${r.stderr}${r.stdout}`);
}

const uri = (label: string) => `pkcs11:token=${label}?module-path=${DEFAULT_MODULE}&pin-value=1234`;

/**
 * Opens and closes a session on one token, makes a second token, and opens that: the last close
 * must have finalised the library, or the second token is not seen. Returns the labels opened.
 */
export function reopenAfterLastClose(): string[] {
  ownTokens();
  initToken('first');
  const a = TokenSession.open(uri('first'), { object: false });
  a.close();
  initToken('second');
  const b = TokenSession.open(uri('second'), { object: false });
  b.close();
  return [a.uri.token, b.uri.token];
}

/** Logs in to a token whose user PIN was never set (only the security officer's): throws. */
export function loginWithoutUserPin(): void {
  ownTokens();
  const P = createRequire(import.meta.url)('pkcs11js') as typeof import('pkcs11js');
  const lib = new P.PKCS11();
  lib.load(DEFAULT_MODULE);
  lib.C_Initialize();
  try {
    lib.C_InitToken(lib.C_GetSlotList(false)[0]!, '87654321', 'no-user-pin'.padEnd(32));
  } finally {
    lib.C_Finalize();
  }
  TokenSession.open(uri('no-user-pin'), { object: false }).close();
}

/** One keyring puts a key into a token; a second keyring, with nothing cached, is asked whether it is there. */
export function secondKeyringHas(): boolean[] {
  ownTokens();
  initToken('ring');
  const one = HsmKeyring.open(uri('ring'));
  try {
    one.importKey('7cdfa1000001', 'BLOCK_KEY0', new Uint8Array(32).fill(9));
  } finally {
    one.close();
  }
  const two = HsmKeyring.open(uri('ring'));
  try {
    return [two.has('7cdfa1000001', 'BLOCK_KEY0'), two.has('7cdfa1000001', 'BLOCK_KEY1')];
  } finally {
    two.close();
  }
}

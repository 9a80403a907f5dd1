// After a SIGKILL mid-write: temp files with raw key bytes or older vault generations are removed on
// the next run — only regular files of this user whose writer is dead, never through a symlink —
// and a vault older than one already written here is refused (ESCROW_ROLLBACK), never read silently.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chownSync, copyFileSync, existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EscrowError } from '../host/errors.js';
import { newRecord } from '../host/escrow/store.js';
import { FileVault } from '../host/escrow/vault.js';
import { generateKey } from '../host/keys.js';
import { cli } from './support/cli.js';

const PASS = 'leftover test passphrase';
const KDF = { log2N: 14, r: 8, p: 1 };

/** The pid of a process that has exited. */
function deadPid(): number {
  const r = spawnSync('sh', ['-c', 'echo $$']);
  return Number(r.stdout.toString().trim());
}

const hex12 = () => Math.random().toString(16).slice(2, 14).padEnd(12, '0');
let n = 0;
const rec = () => newRecord({ deviceId: `05000000${(++n).toString(16).padStart(4, '0')}`, chip: 'esp32s3', block: 'BLOCK_KEY0', purpose: 'HMAC_UP', key: generateKey() });

async function rejectsCode(p: Promise<unknown>, code: string): Promise<EscrowError> {
  try { await p; } catch (err) {
    assert.ok(err instanceof EscrowError, String(err));
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected ${code}`);
}

describe('escrow leftovers after a crash, and the vault generation', function () {
  this.timeout(30_000);
  // A fresh directory each run: a process that runs the suites again (as a mutation-test runner does) starts clean.
  let root = '';
  before(() => { root = mkdtempSync(join(tmpdir(), 'efa-left-')); });

  it('the next vault write removes dead writers\' temp vaults; a live writer\'s, a symlink, a hard link and another user\'s stay', async () => {
    const d = join(root, 'vault');
    mkdirSync(d, { mode: 0o700 });
    const path = join(d, 'escrow.vault');
    const v = new FileVault(path, { passphrase: PASS, kdf: KDF });
    await v.put(rec());
    const dead = deadPid();
    const victim = join(root, 'victim.txt');
    writeFileSync(victim, 'must survive');
    const names = {
      dead: `.escrow.vault.${dead}.${hex12()}.tmp`,
      live: `.escrow.vault.${process.pid}.${hex12()}.tmp`,
      link: `.escrow.vault.${dead}.${hex12()}.tmp`,
      hard: `.escrow.vault.${dead}.${hex12()}.tmp`,
      other: `.escrow.vault.${dead}.${hex12()}.tmp`,
      unrelated: `.notes.txt.${dead}.${hex12()}.tmp`,
    };
    copyFileSync(path, join(d, names.dead));
    copyFileSync(path, join(d, names.live));
    symlinkSync(victim, join(d, names.link));
    linkSync(victim, join(d, names.hard));
    writeFileSync(join(d, names.other), 'x');
    writeFileSync(join(d, names.unrelated), 'x');
    const root_ = process.getuid?.() === 0;
    if (root_) chownSync(join(d, names.other), 65534, 65534);
    await v.put(rec());
    const left = readdirSync(d);
    assert.ok(!left.includes(names.dead), 'a dead writer\'s temp vault is removed');
    for (const k of ['live', 'link', 'hard', 'unrelated', ...(root_ ? ['other'] : [])] as (keyof typeof names)[]) assert.ok(left.includes(names[k]), `${k} stays`);
    assert.equal(readFileSync(victim, 'utf8'), 'must survive');
  });

  it('a key file written by the CLI: a dead run\'s temp copy (raw key bytes) is wiped and removed, nothing followed', async () => {
    const d = join(root, 'keys');
    mkdirSync(d);
    const dead = deadPid();
    const stale = join(d, `.k.bin.${dead}.${hex12()}.tmp`);
    const staleOther = join(d, `.k2.bin.${dead}.${hex12()}.tmp`);
    writeFileSync(stale, generateKey(), { mode: 0o600 });
    writeFileSync(staleOther, generateKey(), { mode: 0o600 });
    const victim = join(root, 'victim.bin');
    writeFileSync(victim, Buffer.alloc(32, 7));
    const trap = join(d, `.k3.bin.${dead}.${hex12()}.tmp`);
    symlinkSync(victim, trap);
    const r = await cli(['keygen', '--out', join(d, 'k.bin')]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(existsSync(stale), false);
    assert.equal(existsSync(staleOther), false);
    assert.ok(existsSync(trap), 'a symlink is not touched');
    assert.deepEqual(readFileSync(victim), Buffer.alloc(32, 7), 'its target neither');
  });

  it('an older vault put back over a newer one is refused (ESCROW_ROLLBACK) and changes nothing', async () => {
    const d = join(root, 'rollback');
    mkdirSync(d, { mode: 0o700 });
    const path = join(d, 'escrow.vault');
    const v = new FileVault(path, { passphrase: PASS, kdf: KDF });
    const first = rec();
    await v.put(first);
    const old = readFileSync(path); // generation 1
    const later = rec();
    await v.put(later); // generation 2: holds a key the old copy lacks
    writeFileSync(path, old);
    // A new process (no memory of what it saw) and the same instance both refuse it.
    await rejectsCode(FileVault.open(path, { passphrase: PASS }), 'ESCROW_ROLLBACK');
    await rejectsCode(v.get(later.deviceId, 'BLOCK_KEY0'), 'ESCROW_ROLLBACK');
    await rejectsCode(new FileVault(path, { passphrase: PASS }).put(rec()), 'ESCROW_ROLLBACK');
    assert.deepEqual(readFileSync(path), old, 'nothing was changed');
    // Removing the watermark is the deliberate way back to an older vault.
    const mark = JSON.parse(readFileSync(path + '.generation', 'utf8')) as { generation: number };
    assert.equal(mark.generation, 2);
    spawnSync('rm', [path + '.generation']);
    const back = await FileVault.open(path, { passphrase: PASS });
    assert.deepEqual((await back.get(first.deviceId, 'BLOCK_KEY0'))?.key, first.key);
  });

  it('the CLI says so in one sentence, exit 6', async () => {
    const d = join(root, 'cli');
    mkdirSync(d, { mode: 0o700 });
    const path = join(d, 'escrow.vault');
    const env = { EFUSE_ATTEST_PASSPHRASE: PASS };
    assert.equal((await cli(['escrow', 'add', '--device-id', '060000000001', '--chip', 'esp32s3', '--vault', path], { env })).code, 0);
    const old = readFileSync(path);
    assert.equal((await cli(['escrow', 'add', '--device-id', '060000000002', '--chip', 'esp32s3', '--vault', path], { env })).code, 0);
    writeFileSync(path, old);
    const r = await cli(['escrow', 'list', '--vault', path, '--json'], { env });
    assert.equal(r.code, 6);
    const j = JSON.parse(r.stdout) as { error: { code: string; message: string } };
    assert.equal(j.error.code, 'ESCROW_ROLLBACK');
    assert.match(j.error.message, /generation 1, but generation 2 was already written here/);
  });
});

// Envelope encryption (docs/provisioning.md §3.5): a format-1 vault written by the format-1 code
// still opens and is upgraded at the next write; KEK rotation (passphrase ↔ PKCS#11 token) re-wraps
// data keys and leaves every device key's ciphertext as it was, in the vault and in PostgreSQL; a
// wrong PIN or a missing token is a clear error that changes nothing. Real SoftHSM2, real PostgreSQL.
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { EscrowError } from '../host/errors.js';
import { PgStore } from '../host/escrow/pg.js';
import { openPkcs11Kek } from '../host/escrow/pkcs11.js';
import { newRecord } from '../host/escrow/store.js';
import { FileVault } from '../host/escrow/vault.js';
import { generateKey } from '../host/keys.js';
import { cli } from './support/cli.js';
import { freshDatabase, havePostgres } from './support/postgres.js';
import { haveSoftHsm, kekUri, newToken } from './support/softhsm.js';
import { ROOT } from './support/vectors.js';

const FIXTURE = ROOT + 'test/fixtures/escrow/format1.vault';
const FIXTURE_PASS = 'format one fixture';
const PASS = 'envelope test passphrase';
const KDF = { log2N: 14, r: 8, p: 1 };
const seq = (b: number) => Uint8Array.from({ length: 32 }, (_, i) => (b + i) & 0xff);

async function rejectsCode(p: Promise<unknown>, code: string, re?: RegExp): Promise<EscrowError> {
  try { await p; } catch (err) {
    assert.ok(err instanceof EscrowError, String(err));
    assert.equal(err.code, code, err.message);
    if (re) assert.match(err.message, re);
    return err;
  }
  assert.fail(`expected ${code}`);
}

let n = 0;
const rec = () => newRecord({ deviceId: `07000000${(++n).toString(16).padStart(4, '0')}`, chip: 'esp32s3', block: 'BLOCK_KEY0', purpose: 'HMAC_UP', key: generateKey() });
const hexes = (e: { ct: Uint8Array }[]) => e.map((x) => Buffer.from(x.ct).toString('hex'));

describe('envelope encryption and KEK rotation', function () {
  this.timeout(30_000);
  // A fresh directory each run: a process that runs the suites again (as a mutation-test runner does) starts clean.
  let dir = '';
  before(() => { dir = mkdtempSync(join(tmpdir(), 'efa-envelope-')); });
  const closers: { close(): Promise<void> }[] = [];
  after(async () => { for (const c of closers.reverse()) await c.close(); });

  it('a format-1 vault made by the format-1 code opens; the next write upgrades it to format 2 with the same keys', async () => {
    const path = join(dir, 'old.vault');
    copyFileSync(FIXTURE, path);
    const v = await FileVault.open(path, { passphrase: FIXTURE_PASS });
    assert.equal((await v.describe())?.format, 1);
    assert.deepEqual((await v.get('7cdfa1000001', 'BLOCK_KEY0'))?.key, seq(0x10));
    const r2 = await v.get('7cdfa1000002');
    assert.deepEqual(r2?.key, seq(0x80));
    assert.equal(r2?.state, 'verified');
    assert.equal(r2?.updatedAt, '2026-11-25T13:34:00.000Z');
    await v.setState('7cdfa1000001', 'BLOCK_KEY0', 'burned');
    const raw = readFileSync(path);
    assert.equal(raw[8], 2, 'written as format 2');
    const again = await FileVault.open(path, { passphrase: FIXTURE_PASS });
    assert.deepEqual(await again.describe(), { format: 2, kek: 'scrypt', generation: 3 });
    assert.deepEqual((await again.get('7cdfa1000001', 'BLOCK_KEY0'))?.key, seq(0x10));
    assert.equal((await again.get('7cdfa1000001', 'BLOCK_KEY0'))?.state, 'burned');
    assert.equal((await again.envelopes()).length, 2, 'every record under its own data key');
    await rejectsCode(FileVault.open(path, { passphrase: 'wrong' }), 'ESCROW_PASSPHRASE');
  });

  it('vault: passphrase → PKCS#11 → new passphrase re-wraps the data keys; device-key ciphertexts never change', async function () {
    if (!haveSoftHsm()) this.skip();
    const path = join(dir, 'rotate.vault');
    const v = new FileVault(path, { passphrase: PASS, kdf: KDF });
    const a = rec();
    const b = rec();
    await v.put(a);
    await v.put(b);
    const before = await v.envelopes();
    assert.notEqual(before[0]!.ct.toString(), before[1]!.ct.toString());
    const t = newToken();
    const kek = await openPkcs11Kek(kekUri(t.label, t.pinFile, 'vault-kek'), { create: true });
    closers.push(kek);
    assert.equal(await v.rotateKek({ kek }), 2);
    const onToken = await FileVault.open(path, { kek });
    const mid = await onToken.envelopes();
    assert.deepEqual(hexes(mid), hexes(before), 'ciphertexts unchanged');
    assert.ok(mid.every((e) => e.kek === kek.id));
    assert.deepEqual((await onToken.get(a.deviceId, 'BLOCK_KEY0'))?.key, a.key);
    await rejectsCode(FileVault.open(path, { passphrase: PASS }), 'ESCROW_KEK', /PKCS#11 token/);
    assert.equal(await onToken.rotateKek({ passphrase: 'a brand new passphrase' }), 2);
    const back = await FileVault.open(path, { passphrase: 'a brand new passphrase' });
    assert.deepEqual(hexes(await back.envelopes()), hexes(before));
    assert.deepEqual((await back.get(b.deviceId, 'BLOCK_KEY0'))?.key, b.key);
  });

  it('PostgreSQL: escrow rotate-kek --to pkcs11:… re-wraps every record in one transaction; key_ct unchanged; the old passphrase no longer opens it', async function () {
    if (!havePostgres() || !haveSoftHsm()) this.skip();
    const url = await freshDatabase('rotate');
    const s = await PgStore.open(url, { passphrase: PASS, kdf: KDF });
    closers.push(s);
    const a = rec();
    await s.put(a);
    await s.put(rec());
    const before = await s.envelopes();
    const t = newToken();
    const uri = kekUri(t.label, t.pinFile, 'pg-kek');
    const env = { EFUSE_ATTEST_PASSPHRASE: PASS };
    const r = await cli(['escrow', 'rotate-kek', '--escrow', url, '--to', uri, '--json'], { env });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const out = (JSON.parse(r.stdout) as { result: { rewrapped: number; to: string } }).result;
    assert.equal(out.rewrapped, 2);
    const kek = await openPkcs11Kek(uri);
    closers.push(kek);
    assert.equal(out.to, kek.id);
    const s2 = await PgStore.open(url, { kek });
    closers.push(s2);
    assert.deepEqual(hexes(await s2.envelopes()), hexes(before));
    assert.deepEqual((await s2.get(a.deviceId, 'BLOCK_KEY0'))?.key, a.key);
    assert.equal((await s2.auditRows()).filter((x) => x.action === 'rewrap').length, 2);
    await rejectsCode(PgStore.open(url, { passphrase: PASS }), 'ESCROW_KEK', /give --kek/);
    const listed = await cli(['escrow', 'list', '--escrow', url, '--kek', uri, '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.equal((JSON.parse(listed.stdout) as { result: { records: unknown[] } }).result.records.length, 2);
  });

  it('a wrong PIN or a missing token: one clear sentence, exit 6, the database and the vault unchanged', async function () {
    if (!havePostgres() || !haveSoftHsm()) this.skip();
    const t = newToken();
    const uri = kekUri(t.label, t.pinFile, 'guarded');
    const url = await freshDatabase('pin');
    const add = await cli(['escrow', 'add', '--device-id', '080000000001', '--chip', 'esp32s3', '--escrow', url, '--kek', uri, '--json']);
    // The KEK must exist first: add with a missing key object is refused, then made by rotate-kek's create.
    assert.equal(add.code, 6);
    assert.match((JSON.parse(add.stdout) as { error: { message: string } }).error.message, /has no AES key labelled "guarded"/);
    (await openPkcs11Kek(uri, { create: true })).close();
    const ok = await cli(['escrow', 'add', '--device-id', '080000000001', '--chip', 'esp32s3', '--escrow', url, '--kek', uri, '--json']);
    assert.equal(ok.code, 0, ok.stdout);
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    const snapshot = async () => JSON.stringify((await c.query('SELECT (SELECT count(*) FROM efa_escrow) AS r, (SELECT count(*) FROM efa_escrow_audit) AS a')).rows);
    const state0 = await snapshot();
    const wrongPin = join(dir, 'wrong.pin');
    writeFileSync(wrongPin, '9999\n');
    for (const [bad, re] of [
      [kekUri(t.label, wrongPin, 'guarded'), /wrong PIN; nothing was changed/],
      [kekUri('no-such-token', t.pinFile, 'guarded'), /no PKCS#11 token labelled "no-such-token" is present/],
    ] as const) {
      const r = await cli(['escrow', 'add', '--device-id', '080000000002', '--chip', 'esp32s3', '--escrow', url, '--kek', bad, '--json']);
      assert.equal(r.code, 6, r.stdout);
      const e = (JSON.parse(r.stdout) as { error: { message: string; code: string } }).error;
      assert.match(e.message, re);
      assert.ok(!e.message.includes('9999') && !e.message.includes('1234'), 'no PIN in the message');
      assert.equal(await snapshot(), state0);
    }
    await c.end();
    // The vault the same way.
    const path = join(dir, 'pin.vault');
    const kek = await openPkcs11Kek(uri);
    await new FileVault(path, { kek }).put(rec());
    await kek.close();
    const bytes = readFileSync(path);
    await rejectsCode((async () => FileVault.open(path, { kek: await openPkcs11Kek(kekUri(t.label, wrongPin, 'guarded')) }))(), 'ESCROW_PIN');
    assert.deepEqual(readFileSync(path), bytes);
  });
});

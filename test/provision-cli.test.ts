// The provisioning CLI's operator options on virtual chips with the real espefuse: --dry-run, the
// BURN confirmation (none without a terminal), a batch with its progress and JSON/CSV reports,
// --master derivation, a clone's MAC refused, and a wrong passphrase or a tampered vault. No key
// byte is printed, logged or reported.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { toHex } from '../protocol/index.js';
import { EXIT } from '../host/errors.js';
import { MASKED_KEY } from '../host/efuse/commands.js';
import { newRecord } from '../host/escrow/store.js';
import { FileVault, HEADER_SIZE } from '../host/escrow/vault.js';
import { shellQuote } from '../host/espefuse/driver.js';
import { keyBlock } from '../host/espefuse/summary.js';
import { createVirtualChip, readSilicon, siliconPath } from '../host/espefuse/virtual.js';
import { DERIVATION_SCHEME, masterId } from '../host/keys.js';
import { CSV_COLUMNS } from '../host/provision/report.js';
import type { ProvisionResult } from '../host/provision/sequence.js';
import { makeChip } from './support/chips.js';
import { ROOT } from './support/vectors.js';
import { PASS, BLOCK, efa, efaOnTerminal, fuses, escrowed, siliconKey, auditOf, assertNoKeys, parseCsv, invariant, workspace } from './support/provisioning.js';

describe('provision: the operator\'s options, real espefuse on virtual chips', function () {
  this.timeout(60_000);
  const { workdir, blank } = workspace('efa-provision-');

  it('--dry-run prints the exact espefuse commands (key masked) and changes nothing', async () => {
    const { d, vault, audit } = workdir();
    const c = await blank('esp32s3', d);
    const before = { image: readFileSync(c.image), silicon: readFileSync(siliconPath(c.image)) };
    const r = await efa(['provision', '--virt', c.image, '--chip', 'esp32s3', '--dry-run', '--vault', vault, '--audit', audit]);
    assert.equal(r.code, 0, r.stderr);
    const ef = `espefuse --chip esp32s3 --virt --path-efuse-file ${c.image}`;
    const summaryLine = `${ef} summary --format json --file '<private temp dir>/summary.json'`;
    const burnLine = `${ef} --do-not-confirm burn-key ${BLOCK} '<private temp dir>/key.bin' HMAC_UP    # key.bin = ${MASKED_KEY}`;
    assert.deepEqual(r.stdout.split('\n'), [
      `virt ${c.image}  device ${c.deviceId}  ${BLOCK}: burn-new — ${BLOCK} is unused: make a key, escrow it, burn it`,
      `  ${summaryLine}`, `  ${burnLine}`, `  ${summaryLine}`, '(dry run: nothing was changed)', '',
    ]);
    assert.deepEqual(readFileSync(c.image), before.image);
    assert.deepEqual(readFileSync(siliconPath(c.image)), before.silicon);
    assert.equal(existsSync(vault), false);
    assert.equal(existsSync(audit), false);

    // The printed lines are the commands themselves: run by a shell with the temp paths filled in, they burn.
    const env = { ...process.env, PATH: `${ROOT}.venv/bin:${process.env.PATH ?? ''}` };
    const key = new Uint8Array(randomBytes(32));
    writeFileSync(join(d, 'key.bin'), key);
    const sh = (line: string) => spawnSync('sh', ['-c', line], { env, encoding: 'utf8' });
    const burned = sh(burnLine.replace(/ {4}#.*$/, '').replace(`'<private temp dir>/key.bin'`, shellQuote(join(d, 'key.bin'))));
    assert.equal(burned.status, 0, burned.stderr);
    const read = sh(summaryLine.replace(`'<private temp dir>/summary.json'`, shellQuote(join(d, 'summary.json'))));
    assert.equal(read.status, 0, read.stderr);
    const fields = JSON.parse(readFileSync(join(d, 'summary.json'), 'utf8')) as Record<string, { value: unknown; readable: boolean }>;
    assert.equal(fields.KEY_PURPOSE_0!.value, 'HMAC_UP');
    assert.equal(fields[BLOCK]!.readable, false);

    // That block has no escrow record now: the dry run says it would refuse, and lists no burn.
    const again = await efa(['provision', '--virt', c.image, '--chip', 'esp32s3', '--dry-run', '--json', '--vault', vault]);
    const row = (JSON.parse(again.stdout) as { result: { devices: { plan: string; commands: string[] }[] } }).result.devices[0]!;
    assert.equal(row.plan, 'refuse');
    assert.deepEqual(row.commands, [summaryLine]);
  });

  it('without --yes and without a terminal: aborted (exit 8), nothing burned, nothing written', async () => {
    const { d, vault, audit } = workdir();
    const c = await blank('esp32c3', d);
    const before = readFileSync(c.image);
    const r = await efa(['provision', '--virt', c.image, '--chip', 'esp32c3', '--vault', vault, '--audit', audit]);
    assert.equal(r.code, EXIT.ABORTED, r.stderr);
    assert.match(r.stderr, /nothing was burned: confirmation needs a terminal \(type BURN\), or pass --yes/);
    const j = await efa(['provision', '--virt', c.image, '--chip', 'esp32c3', '--vault', vault, '--audit', audit, '--json']);
    assert.equal(j.code, EXIT.ABORTED);
    assert.equal((JSON.parse(j.stdout) as { error: { code: string } }).error.code, 'ABORTED');
    assert.deepEqual(readFileSync(c.image), before);
    assert.ok(keyBlock(await fuses('esp32c3', c.image), BLOCK).unused);
    assert.equal(existsSync(vault), false);
    assert.equal(existsSync(audit), false);
  });

  it('on a terminal: the plan is shown with the key masked; anything but BURN aborts, BURN provisions', async function () {
    if (spawnSync('script', ['--version']).status !== 0) this.skip();
    const { d, vault, audit } = workdir();
    const c = await blank('esp32s3', d);
    const before = readFileSync(c.image);
    const args = ['provision', '--virt', c.image, '--chip', 'esp32s3', '--vault', vault, '--audit', audit];
    const no = await efaOnTerminal(args, 'burn\n');
    assert.equal(no.code, EXIT.ABORTED, no.stdout);
    assert.ok(no.stdout.includes(`device ${c.deviceId}: ${BLOCK} <- ${MASKED_KEY} purpose HMAC_UP, read-protected`), no.stdout);
    assert.match(no.stdout, /this cannot be undone/);
    assert.match(no.stdout, /nothing was burned: the answer was not BURN/);
    assert.deepEqual(readFileSync(c.image), before);
    assert.equal(existsSync(vault), false);

    const yes = await efaOnTerminal(args, 'BURN\n');
    assert.equal(yes.code, EXIT.OK, yes.stdout);
    assert.match(yes.stdout, new RegExp(`device ${c.deviceId}  ${BLOCK}: provisioned \\(escrow: verified\\)`));
    const { burned, rec } = await invariant('esp32s3', c.image, vault);
    assert.ok(burned);
    assert.equal(rec!.state, 'verified');
    assertNoKeys({ terminal: no.stdout + yes.stdout }, [rec!.key]);
  });

  it('batch: progress per device, JSON and CSV reports with one row per device, no key bytes anywhere', async () => {
    const { d, vault, audit } = workdir();
    const a = await blank('esp32c3', d, 'a');
    const outside = new Uint8Array(randomBytes(32));
    const used = await makeChip('esp32c3', { [BLOCK]: [outside, 'HMAC_UP'] });
    const b = await blank('esp32c3', d, 'b');
    const images = [a.image, used.image, b.image];
    const base = ['provision', ...images.flatMap((i) => ['--virt', i]), '--chip', 'esp32c3', '--yes', '--vault', vault, '--audit', audit];
    const jsonReport = join(d, 'out.json');
    const csvReport = join(d, 'out.csv');

    const first = await efa([...base, '--report', jsonReport]);
    assert.equal(first.code, EXIT.ESPEFUSE, 'a refused device fails the batch with its exit code');
    assert.match(first.stderr, new RegExp(`1 of 3 devices did not provision \\(first: virt ${used.image}: .*already used.*\\); see ${jsonReport}`));
    for (const [i, img, outcome] of [[1, a.image, 'provisioned'], [2, used.image, 'refused'], [3, b.image, 'provisioned']] as const) {
      assert.ok(first.stderr.includes(`\n${i}/3 virt ${img} ${outcome}\n`) || first.stderr.startsWith(`${i}/3 virt ${img} ${outcome}\n`), first.stderr);
    }
    const report = JSON.parse(readFileSync(jsonReport, 'utf8')) as { run: string; counts: Record<string, number>; devices: ProvisionResult[]; escrow: string; audit: string };
    assert.deepEqual(report.counts, { provisioned: 2, refused: 1 });
    assert.deepEqual(report.devices.map((x) => [x.target, x.deviceId, x.outcome]), [
      [`virt ${a.image}`, a.deviceId, 'provisioned'], [`virt ${used.image}`, used.deviceId, 'refused'], [`virt ${b.image}`, b.deviceId, 'provisioned'],
    ]);
    assert.equal(report.devices[1]!.error?.code, 'BLOCK_USED');
    assert.equal(report.devices[1]!.error?.exitCode, EXIT.ESPEFUSE);
    assert.equal(report.escrow, vault);
    assert.equal(report.audit, audit);
    assert.ok(auditOf(audit).every((l) => l.run === report.run), 'one run id groups the batch');

    const second = await efa([...base, '--report', csvReport, '--json']);
    assert.equal(second.code, EXIT.ESPEFUSE);
    const rows = parseCsv(readFileSync(csvReport, 'utf8'));
    assert.deepEqual(rows[0], [...CSV_COLUMNS]);
    assert.equal(rows.length, 4);
    const col = (name: (typeof CSV_COLUMNS)[number]) => rows.slice(1).map((row) => row[CSV_COLUMNS.indexOf(name)]);
    assert.deepEqual(col('deviceId'), [a.deviceId, used.deviceId, b.deviceId]);
    assert.deepEqual(col('outcome'), ['already-provisioned', 'refused', 'already-provisioned']);
    assert.deepEqual(col('state'), ['verified', '', 'verified']);
    assert.deepEqual(col('burned'), ['false', 'false', 'false']);
    assert.deepEqual(col('errorCode'), ['', 'BLOCK_USED', '']);

    const keys: Uint8Array[] = [outside];
    for (const c of [a, b]) {
      const { rec } = await invariant('esp32c3', c.image, vault);
      assert.equal(rec!.state, 'verified');
      keys.push(rec!.key);
    }
    assertNoKeys({
      'JSON report': readFileSync(jsonReport, 'utf8'), 'CSV report': readFileSync(csvReport, 'utf8'), 'audit log': readFileSync(audit, 'utf8'),
      stdout: first.stdout + second.stdout, stderr: first.stderr + second.stderr,
    }, keys);
  });

  it('--master derives the key as HMAC-SHA256(master, device id); a different master never replaces it (exit 6)', async () => {
    const { d, vault, audit } = workdir();
    const c = await blank('esp32c3', d);
    const master = randomBytes(32);
    writeFileSync(join(d, 'master.bin'), master);
    const args = ['provision', '--virt', c.image, '--chip', 'esp32c3', '--yes', '--json', '--vault', vault, '--audit', audit];
    const r = await efa([...args, '--master', join(d, 'master.bin')]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const { rec } = await invariant('esp32c3', c.image, vault);
    assert.equal(toHex(rec!.key), createHmac('sha256', master).update(c.deviceId).digest('hex'));
    assert.deepEqual(rec!.derivation, { scheme: DERIVATION_SCHEME, registrationId: c.deviceId, masterId: masterId(new Uint8Array(master)) });

    writeFileSync(join(d, 'other.bin'), randomBytes(32));
    const before = { image: readFileSync(c.image), vault: readFileSync(vault) };
    const other = await efa([...args, '--master', join(d, 'other.bin')]);
    assert.equal(other.code, EXIT.ESCROW, other.stdout);
    assert.equal((JSON.parse(other.stdout) as { error: { code: string } }).error.code, 'ESCROW_CONFLICT');
    assert.deepEqual(readFileSync(c.image), before.image);
    assert.deepEqual(readFileSync(vault), before.vault);
    assertNoKeys({ stdout: r.stdout + other.stdout, audit: readFileSync(audit, 'utf8') }, [rec!.key, new Uint8Array(master)]);
  });

  it('a second chip reporting a provisioned MAC (a clone) is refused (exit 6, ESCROW_POSSIBLE_CLONE) and gets no key', async () => {
    const { d, vault, audit } = workdir();
    const mac = 'a4:cf:12:34:56:78';
    const a = await createVirtualChip({ chip: 'esp32s3', out: join(d, 'a.bin'), mac });
    const args = ['--chip', 'esp32s3', '--yes', '--json', '--vault', vault, '--audit', audit];
    const first = await efa(['provision', '--virt', a.image, ...args]);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    assert.equal((await escrowed(vault, a.deviceId))!.state, 'verified');

    const b = await createVirtualChip({ chip: 'esp32s3', out: join(d, 'b.bin'), mac });
    assert.equal(b.deviceId, a.deviceId);
    const before = { image: readFileSync(b.image), vault: readFileSync(vault) };
    const dry = await efa(['provision', '--virt', b.image, ...args, '--dry-run']);
    assert.equal((JSON.parse(dry.stdout) as { result: { devices: { plan: string }[] } }).result.devices[0]!.plan, 'refuse');
    const clone = await efa(['provision', '--virt', b.image, ...args]);
    assert.equal(clone.code, EXIT.ESCROW, clone.stdout + clone.stderr);
    const err = (JSON.parse(clone.stdout) as { error: { code: string; message: string } }).error;
    assert.equal(err.code, 'ESCROW_POSSIBLE_CLONE');
    assert.match(err.message, /may be a clone/);
    assert.deepEqual(readFileSync(b.image), before.image, 'the clone\'s fuses are untouched');
    assert.equal(await siliconKey(b.image), undefined, 'the clone\'s silicon never received the key');
    assert.deepEqual(readFileSync(vault), before.vault);
  });

  it('--master: a device id already burned in the escrow is refused for any other block (the derived key is the same)', async () => {
    const { d, vault, audit } = workdir();
    const mac = 'a4:cf:12:9a:bc:de';
    writeFileSync(join(d, 'master.bin'), randomBytes(32));
    const a = await createVirtualChip({ chip: 'esp32c3', out: join(d, 'a.bin'), mac });
    const args = ['--chip', 'esp32c3', '--yes', '--json', '--vault', vault, '--audit', audit, '--master', join(d, 'master.bin')];
    const first = await efa(['provision', '--virt', a.image, ...args]);
    assert.equal(first.code, 0, first.stdout + first.stderr);

    const b = await createVirtualChip({ chip: 'esp32c3', out: join(d, 'b.bin'), mac });
    const before = readFileSync(b.image);
    const clone = await efa(['provision', '--virt', b.image, ...args, '--block', 'BLOCK_KEY1']);
    assert.equal(clone.code, EXIT.ESCROW, clone.stdout + clone.stderr);
    const err = (JSON.parse(clone.stdout) as { error: { code: string; message: string } }).error;
    assert.equal(err.code, 'ESCROW_POSSIBLE_CLONE');
    assert.match(err.message, /BLOCK_KEY0 \(record verified\)/);
    assert.deepEqual(readFileSync(b.image), before);
    assert.equal((await readSilicon(b.image))?.keys.BLOCK_KEY1, undefined);
  });

  it('a wrong passphrase or a tampered vault: a clear error (exit 6), the chip and the vault unchanged', async () => {
    const { d, vault, audit } = workdir();
    const c = await blank('esp32s3', d);
    await new FileVault(vault, { passphrase: PASS }).put(newRecord({
      deviceId: '020000000001', chip: 'esp32s3', block: BLOCK, purpose: 'HMAC_UP', key: new Uint8Array(randomBytes(32)),
    }));
    const before = { image: readFileSync(c.image), silicon: readFileSync(siliconPath(c.image)), vault: readFileSync(vault) };
    const unchanged = () => {
      assert.deepEqual(readFileSync(c.image), before.image);
      assert.deepEqual(readFileSync(siliconPath(c.image)), before.silicon);
      assert.equal(existsSync(audit), false);
      assert.equal(existsSync(vault + '.lock'), false);
    };
    const provision = ['provision', '--virt', c.image, '--chip', 'esp32s3', '--yes', '--vault', vault, '--audit', audit];
    const wrong = { EFUSE_ATTEST_PASSPHRASE: 'not the passphrase' };
    for (const args of [provision, [...provision, '--dry-run'], ['escrow', 'list', '--vault', vault]]) {
      const r = await efa(args, wrong);
      assert.equal(r.code, EXIT.ESCROW, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr, `efuse-attest: wrong passphrase for the vault ${vault} (or its header was altered); nothing was changed\n`);
      assert.deepEqual(readFileSync(vault), before.vault);
      unchanged();
    }
    const pfile = join(d, 'pass.txt');
    writeFileSync(pfile, 'also wrong\n');
    const viaFile = await efa([...provision, '--passphrase-file', pfile, '--json'], { EFUSE_ATTEST_PASSPHRASE: PASS });
    assert.equal(viaFile.code, EXIT.ESCROW, '--passphrase-file wins over the environment');
    assert.equal((JSON.parse(viaFile.stdout) as { error: { code: string } }).error.code, 'ESCROW_PASSPHRASE');

    const tampered = Buffer.from(before.vault);
    tampered[HEADER_SIZE + 3] ^= 0x40;
    writeFileSync(vault, tampered);
    const t = await efa(provision);
    assert.equal(t.code, EXIT.ESCROW, t.stderr);
    assert.match(t.stderr, /failed its integrity check: it was altered or damaged \(the passphrase is right\); nothing was changed/);
    assert.deepEqual(readFileSync(vault), tampered);
    unchanged();
  });
});

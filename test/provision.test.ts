// Provisioning as an operator runs it: the built CLI, the real espefuse in virtual mode, the emulator
// for the challenge. Full runs on ESP32-S3 and ESP32-C3 images, refusals of used blocks, a SIGKILL
// after some steps and a resume (docs/provisioning.md §2; every step, in-process, in
// provision-resume.test.ts), --dry-run, the BURN confirmation, a batch
// with JSON and CSV reports, and a wrong passphrase or a tampered vault. Whatever happens, every
// burned key is in the escrow, decrypts, and is the key the silicon holds; no key byte is printed,
// logged or reported.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHex } from '../protocol/index.js';
import { EXIT, VerificationError } from '../host/errors.js';
import { type EscrowRecord, newRecord } from '../host/escrow/store.js';
import { FileVault, HEADER_SIZE } from '../host/escrow/vault.js';
import { Espefuse, keyDirBase, shellQuote } from '../host/espefuse/driver.js';
import { isBurnedHmacUp, keyBlock, type EfuseSummary } from '../host/espefuse/summary.js';
import { createVirtualChip, readSilicon, siliconPath } from '../host/espefuse/virtual.js';
import { VirtualChipEfuse } from '../host/efuse/virtual-chip.js';
import { DERIVATION_SCHEME, deriveDeviceKey, masterId } from '../host/keys.js';
import type { AuditEntry } from '../host/provision/audit.js';
import { defaultChallenge } from '../host/provision/challenge.js';
import { CSV_COLUMNS } from '../host/provision/report.js';
import { type ProvisionResult, type Step, STEPS } from '../host/provision/sequence.js';
import { makeChip } from './support/chips.js';
import { AFTER_CRASH } from './support/crash.js';
import type { CrashRun } from './support/crash-run.js';
import { ROOT } from './support/vectors.js';

const PASS = 'provisioning test passphrase';
const BLOCK = 'BLOCK_KEY0';
const MASKED = `[${Array(32).fill('??').join(' ')}]`;

interface Run { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; pid: number }

/** Runs the built CLI with stdin a closed pipe (no terminal); `env` adds to a clean environment. */
function efa(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return spawnCollect(process.execPath, [ROOT + 'dist/host/cli/bin.js', ...args], { ...process.env, EFUSE_ATTEST_PASSPHRASE: PASS, ...env });
}

/** The library's provisioning of one virtual chip, killed (SIGKILL) right after `run.step` (support/crash-run.ts). */
function crashRun(run: CrashRun): Promise<Run> {
  return spawnCollect(process.execPath, [ROOT + 'dist/test/support/crash-run.js', JSON.stringify(run)], { ...process.env, EFUSE_ATTEST_PASSPHRASE: PASS });
}

function spawnCollect(cmd: string, args: string[], env: NodeJS.ProcessEnv, answer?: { after: RegExp; text: string }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, cwd: ROOT });
    let stdout = '';
    let stderr = '';
    let answered = false;
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${args.join(' ')} timed out`)); }, 60_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      if (answer && !answered && answer.after.test(stdout)) { answered = true; child.stdin.write(answer.text); }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr, pid: child.pid ?? -1 }); });
    if (!answer) child.stdin.end();
  });
}

/** Runs the CLI on a pseudo-terminal (util-linux `script`) and types `text` at the BURN prompt. */
function efaOnTerminal(args: string[], text: string): Promise<Run> {
  const command = [process.execPath, ROOT + 'dist/host/cli/bin.js', ...args].map(shellQuote).join(' ');
  const env: NodeJS.ProcessEnv = { ...process.env, EFUSE_ATTEST_PASSPHRASE: PASS };
  return spawnCollect('script', ['-qec', command, '/dev/null'], env, { after: /Type BURN to continue/, text });
}

async function fuses(chip: string, image: string): Promise<EfuseSummary> {
  const ef = new Espefuse(chip, { kind: 'virt', image });
  try { return await ef.summary(); } finally { await ef.close(); }
}

async function escrowed(vault: string, deviceId: string): Promise<EscrowRecord | undefined> {
  return new FileVault(vault, { passphrase: PASS }).get(deviceId, BLOCK);
}

async function siliconKey(image: string): Promise<string | undefined> {
  return (await readSilicon(image))?.keys[BLOCK];
}

function auditOf(path: string): AuditEntry[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as AuditEntry);
}

/** Every way a key could show up in text: hex in both cases, base64 with and without padding, base64url. */
function renderings(key: Uint8Array | string): string[] {
  const b = typeof key === 'string' ? Buffer.from(key, 'hex') : Buffer.from(key);
  const hex = b.toString('hex');
  return [hex, hex.toUpperCase(), b.toString('base64'), b.toString('base64').replace(/=+$/, ''), b.toString('base64url'), hex.match(/../g)!.join(' ')];
}

function assertNoKeys(texts: Record<string, string>, keys: (Uint8Array | string)[]): void {
  assert.ok(keys.length > 0);
  for (const k of keys) {
    for (const r of renderings(k)) {
      for (const [name, text] of Object.entries(texts)) assert.ok(!text.includes(r), `a key appears in ${name}`);
    }
  }
}

/** Minimal RFC 4180 reader: quoted cells with "" escapes, commas and newlines inside quotes. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { cell += '"'; i++; } else if (c === '"') quoted = false; else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(cell); cell = ''; } else if (c === '\n') { row.push(cell); rows.push(row); row = []; cell = ''; } else cell += c;
  }
  assert.equal(cell + row.join(''), '', 'the CSV ends with a newline');
  return rows;
}

/** The safety invariant: a burned block is HMAC_UP and read-protected, and its key is escrowed, decrypts and is the silicon's. */
async function invariant(chip: string, image: string, vault: string): Promise<{ summary: EfuseSummary; burned: boolean; rec?: EscrowRecord }> {
  const summary = await fuses(chip, image);
  const k = keyBlock(summary, BLOCK);
  const rec = existsSync(vault) ? await escrowed(vault, summary.mac) : undefined;
  if (!k.unused) {
    assert.ok(isBurnedHmacUp(k), `${BLOCK} is burned HMAC_UP and read-protected`);
    assert.ok(rec, 'a burned block has its escrow record');
    assert.equal(toHex(rec.key), await siliconKey(image), 'the escrowed key is the key the silicon holds');
  }
  return { summary, burned: !k.unused, ...(rec ? { rec } : {}) };
}

/** The emulator on this image, challenged with `key` (the default challenge of provisioning). */
async function challenge(chip: string, image: string, deviceId: string, key: Uint8Array): Promise<void> {
  const efuse = new VirtualChipEfuse(chip, image);
  try {
    await defaultChallenge({ timeoutMs: 5000 })({ efuse, chip, deviceId, block: BLOCK, slot: 0 }, key);
  } finally {
    await efuse.close();
  }
}

describe('provision: real espefuse on virtual chips', function () {
  this.timeout(60_000);
  const dir = mkdtempSync(join(tmpdir(), 'efa-provision-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  /** A fresh work directory with its own vault and audit log. */
  const workdir = () => {
    const d = join(dir, `w${++n}`);
    mkdirSync(d);
    return { d, vault: join(d, 'escrow.vault'), audit: join(d, 'audit.jsonl') };
  };
  const blank = async (chip: string, d: string, name = chip) => createVirtualChip({ chip, out: join(d, `${name}.bin`) });

  for (const chip of ['esp32s3', 'esp32c3']) {
    it(`${chip}: chip create, provision --yes: escrowed, burned HMAC_UP read-protected, verified; a second run burns nothing`, async () => {
      const { d, vault, audit } = workdir();
      const image = join(d, 'chip.bin');
      const made = await efa(['chip', 'create', '--chip', chip, '--out', image, '--json']);
      assert.equal(made.code, 0, made.stderr);
      const deviceId = (JSON.parse(made.stdout) as { result: { deviceId: string } }).result.deviceId;
      const args = ['provision', '--virt', image, '--chip', chip, '--yes', '--json', '--vault', vault, '--audit', audit];

      const r = await efa(args);
      assert.equal(r.code, EXIT.OK, r.stdout + r.stderr);
      const dev = (JSON.parse(r.stdout) as { result: { devices: ProvisionResult[] } }).result.devices[0]!;
      assert.equal(dev.outcome, 'provisioned');
      assert.equal(dev.state, 'verified');
      assert.equal(dev.deviceId, deviceId);
      assert.equal(dev.burned, true);
      assert.deepEqual(dev.steps.map((s) => `${s.step}:${s.outcome}`), STEPS.map((s) => `${s}:ok`));

      // The fuses, read afresh: HMAC_UP, read- and write-protected; the other blocks untouched.
      const { summary, burned, rec } = await invariant(chip, image, vault);
      assert.ok(burned);
      assert.equal(summary.mac, deviceId);
      const k = keyBlock(summary, BLOCK);
      assert.equal(k.purpose, 'HMAC_UP');
      assert.ok(k.readProtected && k.writeProtected);
      assert.ok(summary.keys.filter((b) => b.block !== BLOCK).every((b) => b.unused));
      assert.equal(rec!.state, 'verified');
      assert.equal(rec!.chip, chip);
      assert.equal(rec!.purpose, 'HMAC_UP');
      assert.equal(rec!.derivation, undefined);

      // escrow export gives the same key, and that key — and no other — verifies the device's attestation.
      const keyFile = join(d, 'exported.bin');
      const ex = await efa(['escrow', 'export', '--device-id', deviceId, '--out', keyFile, '--vault', vault]);
      assert.equal(ex.code, 0, ex.stderr);
      const exported = new Uint8Array(readFileSync(keyFile));
      assert.deepEqual(exported, rec!.key);
      const none = await efa(['escrow', 'export', '--device-id', '020000000000', '--reveal', '--vault', vault, '--json']);
      assert.equal(none.code, EXIT.ESCROW, none.stdout);
      assert.equal((JSON.parse(none.stdout) as { error: { code: string } }).error.code, 'ESCROW_MISSING');
      await challenge(chip, image, deviceId, exported);
      const wrong = Uint8Array.from(exported);
      wrong[0] ^= 1;
      await assert.rejects(challenge(chip, image, deviceId, wrong), (e: unknown) => e instanceof VerificationError && e.reason === 'MAC');

      const lines = auditOf(audit);
      assert.deepEqual(lines.map((l) => `${l.step}:${l.outcome}`), STEPS.map((s) => `${s}:ok`));
      assert.ok(lines.every((l) => l.deviceId === deviceId && l.chip === chip && l.block === BLOCK && l.run === lines[0]!.run));

      // Again: nothing to burn, the device is verified with the escrowed key, nothing changes on the chip or in the key.
      const imageBefore = readFileSync(image);
      const again = await efa(args);
      assert.equal(again.code, EXIT.OK, again.stdout + again.stderr);
      const dev2 = (JSON.parse(again.stdout) as { result: { devices: ProvisionResult[] } }).result.devices[0]!;
      assert.equal(dev2.outcome, 'already-provisioned');
      assert.equal(dev2.burned, false);
      assert.deepEqual(dev2.steps.filter((s) => s.outcome === 'skip').map((s) => s.step), ['keygen', 'escrow', 'burn']);
      assert.deepEqual(readFileSync(image), imageBefore);
      assert.deepEqual((await escrowed(vault, deviceId))!.key, exported);
      assert.ok(!auditOf(audit).slice(STEPS.length).some((l) => l.step === 'burn' && l.outcome === 'ok'));

      // A dry run now plans a verification: one summary, no burn-key.
      const dry = await efa(['provision', '--virt', image, '--chip', chip, '--dry-run', '--json', '--vault', vault]);
      assert.equal(dry.code, 0, dry.stderr);
      const row = (JSON.parse(dry.stdout) as { result: { devices: { plan: string; commands: string[] }[] } }).result.devices[0]!;
      assert.equal(row.plan, 'verify');
      assert.equal(row.commands.length, 1);
      assert.match(row.commands[0]!, / summary --format json /);

      assertNoKeys({ stdout: r.stdout + again.stdout + dry.stdout + ex.stdout, stderr: r.stderr + again.stderr + ex.stderr, audit: readFileSync(audit, 'utf8') }, [exported]);
    });
  }

  it('a block burned elsewhere, without an escrow record, is refused (exit 7) and never burned again', async () => {
    const { vault, audit } = workdir();
    const outside = new Uint8Array(randomBytes(32));
    const c = await makeChip('esp32s3', { [BLOCK]: [outside, 'HMAC_UP'] });
    const before = readFileSync(c.image);
    const siBefore = readFileSync(siliconPath(c.image));
    const r = await efa(['provision', '--virt', c.image, '--chip', 'esp32s3', '--yes', '--json', '--vault', vault, '--audit', audit]);
    assert.equal(r.code, EXIT.ESPEFUSE, r.stdout + r.stderr);
    const err = (JSON.parse(r.stdout) as { ok: boolean; error: { code: string; message: string } }).error;
    assert.equal(err.code, 'BLOCK_USED');
    assert.match(err.message, new RegExp(`${BLOCK} of device ${c.deviceId} is already used \\(purpose HMAC_UP, read-protected.*never burned again`));
    assert.deepEqual(readFileSync(c.image), before);
    assert.deepEqual(readFileSync(siliconPath(c.image)), siBefore);
    assert.equal(existsSync(vault), false, 'no vault was created');
    const lines = auditOf(audit);
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.step, 'read');
    assert.equal(lines[0]!.outcome, 'refuse');
    assert.equal(lines[0]!.code, 'BLOCK_USED');
    assert.equal(lines[0]!.deviceId, c.deviceId);
    assertNoKeys({ stdout: r.stdout, stderr: r.stderr, audit: readFileSync(audit, 'utf8') }, [outside]);
  });

  it('a block in an unexpected state although a key is escrowed for it is refused (BLOCK_STATE), nothing changes', async () => {
    const { vault, audit } = workdir();
    // Burned as a readable USER block (not what provisioning burns), with a key escrowed for it.
    const c = await makeChip('esp32c3', { [BLOCK]: [new Uint8Array(randomBytes(32)), 'USER'] });
    const key = new Uint8Array(randomBytes(32));
    await new FileVault(vault, { passphrase: PASS }).put(newRecord({ deviceId: c.deviceId, chip: 'esp32c3', block: BLOCK, purpose: 'HMAC_UP', key }));
    const before = { image: readFileSync(c.image), vault: readFileSync(vault) };
    const r = await efa(['provision', '--virt', c.image, '--chip', 'esp32c3', '--yes', '--vault', vault, '--audit', audit]);
    assert.equal(r.code, EXIT.ESPEFUSE, r.stderr);
    assert.match(r.stderr, /is purpose USER, readable, write-protected, holds data — neither unused nor burned HMAC_UP.*Not touching it/);
    assert.deepEqual(readFileSync(c.image), before.image);
    assert.deepEqual(readFileSync(vault), before.vault);
    assert.deepEqual(auditOf(audit).map((l) => `${l.step}:${l.outcome}:${l.code}`), ['read:refuse:BLOCK_STATE']);
  });

  describe('a crash (SIGKILL) after a step, then the same command again', () => {
    const { d, vault, audit } = workdir();

    // Every step on both chip kinds in-process (provision-resume.test.ts); here real processes on real
    // espefuse: before the burn, right after it (key files, silicon side file), after the check and the challenge.
    const CASES: [string, Step][] = [['esp32s3', 'escrow'], ['esp32s3', 'burn'], ['esp32c3', 'check'], ['esp32c3', 'challenge']];
    for (const [chip, step] of CASES) {
      it(`${chip}, after ${step}: every burned key is escrowed and decrypts; the resume finishes with that key`, async () => {
        const c = await blank(chip, d, step);
        const args = ['provision', '--virt', c.image, '--chip', chip, '--yes', '--json', '--vault', vault, '--audit', audit];

        const crashed = await crashRun({ step, chip, image: c.image, vault, audit });
        assert.equal(crashed.signal, 'SIGKILL', `the run was killed (code ${crashed.code}): ${crashed.stdout}${crashed.stderr}`);
        const last = auditOf(audit).filter((l) => l.deviceId === c.deviceId).at(-1);
        assert.equal(`${last?.step}:${last?.outcome}`, `${step}:ok`, 'the crashed step was logged before the crash');
        const want = AFTER_CRASH[step];
        const mid = await invariant(chip, c.image, vault);
        assert.equal(mid.burned, want.burned, `block burned after a crash after ${step}`);
        assert.equal(mid.rec?.state, want.state);
        assert.equal(existsSync(vault + '.lock'), false, 'no vault lock left behind');
        assert.deepEqual(readdirSync(keyDirBase()).filter((f) => f.startsWith(`efuse-attest-key-${crashed.pid}-`)), [], 'no key file left behind');

        const resumed = await efa(args);
        assert.equal(resumed.code, EXIT.OK, resumed.stdout + resumed.stderr);
        const dev = (JSON.parse(resumed.stdout) as { result: { devices: ProvisionResult[] } }).result.devices[0]!;
        assert.equal(dev.outcome, want.resumed);
        assert.equal(dev.burned, !want.burned, 'the resume burns only what was not burned');
        const end = await invariant(chip, c.image, vault);
        assert.ok(end.burned);
        assert.equal(end.rec!.state, 'verified');
        // No key was replaced: the key escrowed before the crash is the one burned and verified.
        if (mid.rec) assert.deepEqual(end.rec!.key, mid.rec.key);
        await challenge(chip, c.image, c.deviceId, end.rec!.key);
        assertNoKeys({ crash: crashed.stdout + crashed.stderr, resume: resumed.stdout + resumed.stderr, audit: readFileSync(audit, 'utf8') }, [end.rec!.key]);
      });
    }
  });

  it('--dry-run prints the exact espefuse commands (key masked) and changes nothing', async () => {
    const { d, vault, audit } = workdir();
    const c = await blank('esp32s3', d);
    const before = { image: readFileSync(c.image), silicon: readFileSync(siliconPath(c.image)) };
    const r = await efa(['provision', '--virt', c.image, '--chip', 'esp32s3', '--dry-run', '--vault', vault, '--audit', audit]);
    assert.equal(r.code, 0, r.stderr);
    const ef = `espefuse --chip esp32s3 --virt --path-efuse-file ${c.image}`;
    const summaryLine = `${ef} summary --format json --file '<private temp dir>/summary.json'`;
    const burnLine = `${ef} --do-not-confirm burn-key ${BLOCK} '<private temp dir>/key.bin' HMAC_UP    # key.bin = ${MASKED}`;
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
    assert.ok(no.stdout.includes(`device ${c.deviceId}: ${BLOCK} <- ${MASKED} purpose HMAC_UP, read-protected`), no.stdout);
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

describe('docs/provisioning.md matches the code', () => {
  const doc = readFileSync(ROOT + 'docs/provisioning.md', 'utf8');
  const cell = (label: string) => {
    const m = new RegExp(`^\\| ${label.replace(/[()]/g, '\\$&')} \\| \`([^\`]+)\``, 'm').exec(doc);
    assert.ok(m, `the §4 table has a row "${label}"`);
    return m[1]!;
  };

  it('§4 vector: the derived key and the master id', () => {
    const master = new Uint8Array(Buffer.from(cell('master (base64)'), 'base64'));
    assert.equal(master.length, 64);
    const key = deriveDeviceKey(master, cell('MAC'));
    assert.equal(cell('registrationId'), 'aabbccddeeff');
    assert.equal(Buffer.from(key).toString('base64'), cell('deviceKey (base64)'));
    assert.equal(toHex(key), cell('deviceKey (hex)'));
    assert.equal(masterId(master), cell('masterId'));
  });

  it('§2 lists the steps in order, and §6 the exit codes', () => {
    const section2 = doc.slice(doc.indexOf('## 2. The sequence'), doc.indexOf('### 2.1'));
    const steps = [...section2.matchAll(/^\| `([a-z-]+)` \| /gm)].map((m) => m[1]);
    assert.deepEqual(steps, [...STEPS]);
    const codes = [...doc.slice(doc.indexOf('Exit codes (')).matchAll(/^\| (\d) \| /gm)].map((m) => Number(m[1]));
    assert.deepEqual(codes, Object.values(EXIT));
  });
});

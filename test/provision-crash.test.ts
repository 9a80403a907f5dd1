// A SIGKILL after a step of provisioning, then the same command again (docs/provisioning.md §2.1), as
// real processes on the real espefuse in virtual mode: before the burn, right after it (key files,
// silicon side file), after the check and after the challenge. Every step on both chip kinds runs
// in-process in provision-resume.test.ts.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { EXIT } from '../host/errors.js';
import { keyDirBase } from '../host/espefuse/driver.js';
import type { ProvisionResult, Step } from '../host/provision/sequence.js';
import { AFTER_CRASH } from './support/crash.js';
import { efa, crashRun, auditOf, assertNoKeys, invariant, challenge, workspace } from './support/provisioning.js';

describe('provision: a crash (SIGKILL) after a step, then the same command again', function () {
  this.timeout(60_000);
  const { workdir, blank } = workspace('efa-provision-');

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

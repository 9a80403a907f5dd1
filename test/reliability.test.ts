// Link faults between host and device: the host never accepts a bad MAC, retries within its
// budget, and reports a clear timeout otherwise. One suite, run against every link target
// (test/support/link-targets.ts): the in-memory device, the emulator for the S3 and the C3 (the
// firmware on the real XS engine over its pseudo-terminal, opened with the real serialport), and a
// board when one is named. Success rates per fault rate are printed and recorded in
// docs/reliability.md. EFUSE_ATTEST_FUZZ=long runs ten times as many tries and a higher rate.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keyMap, Verifier } from '../host/backend.js';
import { Client } from '../host/client.js';
import { TimeoutError, VerificationError } from '../host/errors.js';
import { MemoryTransport } from '../host/transport/memory.js';
import type { Transport } from '../host/transport/transport.js';
import { verifyAttestation } from '../host/verify.js';
import { decodeHeader, encodeFrame, encodeResponse, FrameDecoder, fromHex } from '../protocol/index.js';
import { cli } from './support/cli.js';
import { FaultyTransport } from './support/faulty.js';
import { describeTrial, expectedSuccess, faultMix, faultTrial, type TrialResult } from './support/faults.js';
import { hostileInput } from './support/fuzz.js';
import { type LinkTarget, linkTargets } from './support/link-targets.js';
import { memoryLink, type MemoryLink } from './support/memory-link.js';

const LONG = process.env.EFUSE_ATTEST_FUZZ === 'long';
const RATES = LONG ? [0, 0.001, 0.003, 0.01, 0.02, 0.03] : [0, 0.001, 0.003, 0.01];
const RETRIES = 4;

/** The properties every trial must have, whatever the rate. */
function checkTrial(r: TrialResult): void {
  assert.equal(r.badMac, 0, 'no bad MAC accepted');
  assert.equal(r.other, 0, 'every failure is a timeout');
  assert.equal(r.verified + r.timeouts, r.tries);
  assert.ok(r.retries <= r.tries * RETRIES, 'retries stay within the budget');
  if (r.rate === 0) assert.equal(r.verified, r.tries);
  if (r.rate <= 0.001) assert.ok(r.verified >= r.tries * 0.95, `success ${r.verified}/${r.tries} at rate ${r.rate}`);
  // The host recovers about as well as the physics allows: far fewer successes than (1-r)^B per
  // try predicts would mean it loses good answers (stuck decoder, wrong ids, timers).
  const want = expectedSuccess(r.rate, RETRIES + 1).perAttest * r.tries;
  if (r.rate > 0 && r.rate <= 0.01) assert.ok(r.verified >= Math.floor(want * 0.5), `success ${r.verified}/${r.tries} at rate ${r.rate}, physics allows about ${want.toFixed(1)}`);
}

for (const [name, make] of linkTargets(['esp32s3', 'esp32c3'])) {
  describe(`reliability: link faults (${name})`, function () {
    this.timeout(300_000);
    let t: LinkTarget;
    before(async () => { t = await make(); });
    afterEach(async () => { await t?.release(); });
    after(async () => { await t?.close(); });

    for (const rate of RATES) {
      const tries = (LONG ? 10 : 1) * (rate <= 0.001 ? 20 : 10);
      it(`never accepts a bad MAC at per-byte fault rate ${rate} (${tries} attestations)`, async () => {
        const r = await faultTrial(await t.link(), t.key, rate, tries, 1000 + rate * 1e4, { retries: RETRIES, timeoutMs: t.answerMs, deviceId: fromHex(t.deviceId) });
        console.log(`      ${describeTrial(r)}`);
        checkTrial(r);
      });
    }

    for (const dir of ['tx', 'rx'] as const) {
      it(`a dead link (${dir}) gives a clear TimeoutError after the retry budget`, async () => {
        const ms = t.answerMs / 2;
        const client = new Client(new FaultyTransport(await t.link(), { [dir]: { drop: 1 } }), { timeoutMs: ms, retries: 3 });
        await assert.rejects(client.attest(), (e: unknown) => e instanceof TimeoutError && new RegExp(`no answer to ATTEST from .* after 4 tries of ${ms} ms`).test((e as Error).message));
        assert.equal(client.session.stats.retries, 3);
        assert.equal(client.session.stats.timeouts, 1);
      });
    }

    it('a link cut mid-frame in either direction costs one retry', async () => {
      const port = await t.link();
      for (const dir of ['tx', 'rx'] as const) {
        const faulty = new FaultyTransport(port, {});
        const client = new Client(faulty, { timeoutMs: t.answerMs * 1.5, retries: 2 });
        faulty.cutAfter(dir, 30, t.answerMs);
        verifyAttestation(await client.attest(), { key: t.key, deviceId: t.deviceId });
        assert.equal(client.session.stats.retries, 1, dir);
        if (dir === 'tx') assert.ok(faulty.stats.outageBytes > 0, 'the cut swallowed bytes');
        if (dir === 'rx') assert.ok(client.session.stats.badFrames >= 1, 'the cut answer was reported, not half-parsed');
      }
    });

    it('device resets mid-exchange on a noisy link cost retries, never a bad answer', async function () {
      if (!t.reset) this.skip();
      const faulty = new FaultyTransport(await t.link(), { tx: faultMix(0.003), rx: faultMix(0.003) }, 77);
      const logs: string[] = [];
      const client = new Client(faulty, { timeoutMs: t.answerMs, retries: 6, onLog: (l) => logs.push(l) });
      const resets = LONG ? 20 : 4;
      let timeouts = 0;
      for (let i = 0; i < resets; i++) {
        const pending = client.attest();
        await new Promise((r) => setTimeout(r, i % 3)); // before, during or after the device's answer
        await t.reset!();
        // A timeout is allowed (the noise alone fails 7 tries in a row ~0.1 % of the time); a bad answer is not.
        try { verifyAttestation(await pending, { key: t.key, deviceId: t.deviceId }); } catch (e) { if (!(e instanceof TimeoutError)) throw e; timeouts++; }
      }
      verifyAttestation(await client.attest(), { key: t.key, deviceId: t.deviceId });
      const s = client.session.stats;
      console.log(`      ${resets} resets: ${resets - timeouts} verified, ${timeouts} timeouts, ${s.retries} retries, ${s.badFrames} bad frames, ${s.logLines} log lines`);
      assert.ok(timeouts <= Math.max(1, resets / 10), `${timeouts} of ${resets} timed out`);
      assert.ok(logs.some((l) => l.startsWith('ESP-ROM:')), 'boot text seen as log lines');
    });

    it('after a noisy spell the link recovers at once: the next attestation needs no retry', async () => {
      const faulty = new FaultyTransport(await t.link(), { tx: faultMix(0.05), rx: faultMix(0.05) }, 5);
      const client = new Client(faulty, { timeoutMs: t.answerMs / 2, retries: 1 });
      for (let i = 0; i < 5; i++) await client.attest().catch((e: unknown) => { if (!(e instanceof TimeoutError)) throw e; });
      faulty.setRates({});
      await new Promise((r) => setTimeout(r, t.answerMs * 0.6)); // late answers drain
      const before = client.session.stats.retries;
      verifyAttestation(await client.attest(), { key: t.key, deviceId: t.deviceId });
      assert.equal(client.session.stats.retries, before);
    });

    // Security checks over the real link. Covered elsewhere and not repeated here: the device refusing
    // short nonces by status (conformance), A-as-B and Verifier replays in memory (verify.test.ts),
    // `verify --json` output (cli.test.ts).
    const keyForms = (key: Uint8Array) => [Buffer.from(key).toString('hex'), Buffer.from(key).toString('hex').toUpperCase(), Buffer.from(key).toString('base64')];
    const hasKey = (text: string) => keyForms(t.key).some((k) => text.includes(k));
    const containsBytes = (hay: Uint8Array, needle: Uint8Array) => Buffer.from(hay).includes(Buffer.from(needle));

    it('security: the host refuses a nonce shorter than 16 bytes before anything is sent', async () => {
      const faulty = new FaultyTransport(await t.link(), {});
      let sent = 0;
      faulty.onTraffic((dir, b) => { if (dir === 'tx') sent += b.length; });
      const client = new Client(faulty, { timeoutMs: 500 });
      await assert.rejects(client.attest({ nonce: new Uint8Array(15) }), (e: unknown) => e instanceof RangeError && /nonce/.test((e as Error).message));
      await assert.rejects(client.attest({ nonce: new Uint8Array(0) }), RangeError);
      assert.equal(sent, 0);
      assert.throws(() => new Verifier({ keys: keyMap([]), nonceSize: 15 }), RangeError);
    });

    it('security: a recorded answer replayed on the wire for a new challenge is rejected', async () => {
      const port = await t.link();
      const verifier = new Verifier({ keys: keyMap([[`${t.deviceId}/0`, t.key]]) });
      const honest = new Client(port, { timeoutMs: 500 });
      const first = await honest.attest({ nonce: verifier.challenge(t.deviceId).nonce });
      assert.equal((await verifier.verify(first)).deviceId, t.deviceId);
      await assert.rejects(verifier.verify(first), (e: unknown) => e instanceof VerificationError && e.reason === 'NONCE', 'the same answer twice');
      // A man in the middle answers the next request itself with the recorded answer, re-framed with
      // the new request id (a CRC is not a MAC): the host takes it as the answer, the MAC does not.
      const decoder = new FrameDecoder();
      let toHost: (b: Uint8Array) => void = () => {};
      const mitm: Transport = {
        name: 'man in the middle',
        isOpen: true,
        async write(b) {
          for (const ev of decoder.push(b)) {
            if (ev.type !== 'frame') continue;
            const id = decodeHeader(ev.payload).id;
            setImmediate(() => toHost(encodeFrame(encodeResponse({ type: 'attest', id, attestation: first.response }))));
          }
        },
        onData(h) { toHost = h; },
        onClose() {},
        async close() {},
      };
      const fooled = new Client(mitm, { timeoutMs: 500 });
      const c2 = verifier.challenge(t.deviceId);
      const replayed = await fooled.attest({ nonce: c2.nonce });
      assert.deepEqual(replayed.response.mac, first.response.mac);
      assert.throws(() => verifyAttestation(replayed, { key: t.key, deviceId: t.deviceId }), (e: unknown) => e instanceof VerificationError && e.reason === 'MAC');
      await assert.rejects(verifier.verify(replayed), (e: unknown) => e instanceof VerificationError && e.reason === 'MAC');
    });

    it('security: the device never sends its key, even to hostile input on a faulty link; logs and errors never show it', async () => {
      const faulty = new FaultyTransport(await t.link(), { tx: faultMix(0.003), rx: faultMix(0.003) }, 11);
      const rx: Uint8Array[] = [];
      faulty.onTraffic((dir, b) => { if (dir === 'rx') rx.push(b.slice()); });
      const text: string[] = [];
      const client = new Client(faulty, { timeoutMs: 150, retries: 4, onLog: (l) => text.push(l), onFrameError: (d) => text.push(d) });
      const inputs = [...hostileInput(4242, 2000)];
      for (let i = 0; i < inputs.length; i += 20) await faulty.write(Buffer.concat(inputs.slice(i, i + 20)));
      for (let i = 0; i < 10; i++) {
        try {
          const att = await client.attest();
          try { verifyAttestation(att, { key: new Uint8Array(32).fill(7) }); } catch (e) { text.push(String(e), JSON.stringify(e)); }
        } catch (e) { text.push(String(e), (e as Error).stack ?? ''); }
      }
      const wire = Buffer.concat(rx);
      assert.ok(wire.length > 10_000, `the device answered (${wire.length} bytes)`);
      assert.ok(!containsBytes(wire, t.key), 'key bytes on the wire');
      assert.ok(!hasKey(wire.toString('latin1')) && !text.some(hasKey), 'key in logs or errors');
    });

    it('security: `attest --json` and its errors never contain the key bytes', async function () {
      if (!t.port) this.skip();
      const port = t.port!;
      const dir = mkdtempSync(join(tmpdir(), 'efa-rel-'));
      const keyFile = join(dir, 'key.bin');
      const wrongKey = join(dir, 'wrong.bin');
      writeFileSync(keyFile, t.key);
      writeFileSync(wrongKey, new Uint8Array(32).fill(9));
      const runs = [
        { args: ['attest', '--port', port, '--key', keyFile, '--json'], code: 0 },
        { args: ['attest', '--port', port, '--key', wrongKey, '--json'], code: 3 },
        { args: ['attest', '--port', port, '--key', wrongKey, '--debug'], code: 3 },
        { args: ['attest', '--port', port, '--key', keyFile, '--nonce', '00'.repeat(15), '--json'], code: -1 },
        { args: ['token', '--port', port, '--resource', 'hub/devices/x', '--json'], code: 0 },
      ];
      for (const r of runs) {
        const out = await cli(r.args);
        if (r.code >= 0) assert.equal(out.code, r.code, `${r.args.join(' ')}: ${out.stderr}`);
        else assert.notEqual(out.code, 0, r.args.join(' '));
        assert.ok(!hasKey(out.stdout) && !hasKey(out.stderr), `key bytes in the output of ${r.args.join(' ')}`);
      }
    });
  });
}

describe('reliability: the fault injector and the in-memory device', () => {
  it('delays hold the stream back without reordering it', async () => {
    const [a, b] = MemoryTransport.pair();
    const faulty = new FaultyTransport(a, { tx: { delay: 0.5, maxDelayMs: 20 } }, 3);
    const got: number[] = [];
    b.onData((bytes) => got.push(...bytes));
    for (let i = 0; i < 100; i++) await faulty.write(Uint8Array.of(i));
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(faulty.stats.delayed > 10);
    assert.deepEqual(got, Array.from({ length: 100 }, (_, i) => i));
  });

  it('survives a device reset after half a request (boot text, lost state) and answers the retry', async () => {
    let resetDone = false;
    const link: MemoryLink = memoryLink({
      receive(b, deliver) {
        if (resetDone) return deliver(b);
        resetDone = true;
        deliver(b.subarray(0, b.length >> 1));
        link.reset();
      },
    });
    const logs: string[] = [];
    const client = new Client(link.host, { timeoutMs: 100, retries: 3, onLog: (l) => logs.push(l) });
    const att = await client.attest();
    assert.ok(att.response.mac.length === 32);
    assert.ok(logs.some((l) => l.startsWith('rst:0xc')), 'reset text surfaced as a log line');
    assert.ok(client.session.stats.retries >= 1);
  });
});

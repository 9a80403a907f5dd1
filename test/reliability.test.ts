// Link faults between host and device: the host never accepts a bad MAC, retries within its
// budget, and reports a clear timeout otherwise. The same trials run against the in-memory device
// and against the emulator (the firmware on the real XS engine) over its pseudo-terminal, opened
// with the real serialport. Success rates per fault rate are printed and recorded in
// docs/reliability.md. EFUSE_ATTEST_FUZZ=long runs ten times as many tries and a higher rate.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keyMap, Verifier } from '../host/backend.js';
import { Client } from '../host/client.js';
import { startEmulator } from '../host/emulator.js';
import { TimeoutError, VerificationError } from '../host/errors.js';
import { FaultyTransport } from '../host/transport/faulty.js';
import { MemoryTransport } from '../host/transport/memory.js';
import { SerialTransport } from '../host/transport/serial.js';
import type { Transport } from '../host/transport/transport.js';
import { verifyAttestation } from '../host/verify.js';
import { AttestService } from '../device/src/service.js';
import { createDevice } from '../device/src/device.js';
import { decodeHeader, encodeFrame, encodeResponse, FrameDecoder } from '../protocol/index.js';
import { makeChip } from './support/chips.js';
import { cli } from './support/cli.js';
import { describeTrial, expectedSuccess, faultMix, faultTrial, type TrialResult } from './support/faults.js';
import { hostileInput } from './support/fuzz.js';
import { softChip } from './support/soft-chip.js';
import { TEST_KEY } from './support/targets.js';

const LONG = process.env.EFUSE_ATTEST_FUZZ === 'long';
const RATES = LONG ? [0, 0.001, 0.003, 0.01, 0.02, 0.03] : [0, 0.001, 0.003, 0.01];
const RETRIES = 4;

function memoryLink() {
  const [host, dev] = MemoryTransport.pair('memory');
  const service = new AttestService(createDevice(softChip({ keys: { 0: { key: TEST_KEY }, 1: { key: TEST_KEY } } })), (f) => { void dev.write(f); });
  dev.onData((b) => service.receive(b));
  return { host, dev, service };
}

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

describe('reliability: link faults (in-memory device)', function () {
  this.timeout(300_000);
  for (const rate of RATES) {
    const tries = (LONG ? 10 : 1) * (rate <= 0.001 ? 40 : 15);
    it(`never accepts a bad MAC at per-byte fault rate ${rate} (${tries} attestations)`, async () => {
      const { host } = memoryLink();
      const r = await faultTrial(host, TEST_KEY, rate, tries, 1000 + rate * 1e4, { retries: RETRIES });
      console.log(`      ${describeTrial(r)}`);
      checkTrial(r);
    });
  }

  it('a dead link gives a clear TimeoutError after the retry budget', async () => {
    const { host } = memoryLink();
    const client = new Client(new FaultyTransport(host, { tx: { drop: 1 } }), { timeoutMs: 30, retries: 2 });
    await assert.rejects(client.attest(), (e: unknown) => e instanceof TimeoutError && /after 3 tries of 30 ms/.test((e as Error).message));
    assert.equal(client.session.stats.retries, 2);
  });

  it('a link cut mid-frame in either direction costs one retry', async () => {
    for (const dir of ['tx', 'rx'] as const) {
      const { host } = memoryLink();
      const faulty = new FaultyTransport(host, {});
      const client = new Client(faulty, { timeoutMs: 150, retries: 2 });
      faulty.cutAfter(dir, 30, 100);
      verifyAttestation(await client.attest(), { key: TEST_KEY });
      assert.equal(client.session.stats.retries, 1, dir);
      assert.ok(faulty.stats.outageBytes > 0, dir);
    }
  });

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

  it('survives a device reset mid-exchange (boot text, lost state) and answers the retry', async () => {
    const [host, dev] = MemoryTransport.pair('memory');
    let service = new AttestService(createDevice(softChip({ keys: { 0: { key: TEST_KEY }, 1: { key: TEST_KEY } } })), (f) => { void dev.write(f); });
    let resetDone = false;
    dev.onData((b) => {
      if (!resetDone) {
        // Reset after receiving half a request: the device forgets it and prints ROM text.
        resetDone = true;
        service.receive(b.subarray(0, b.length >> 1));
        service = new AttestService(createDevice(softChip({ keys: { 0: { key: TEST_KEY }, 1: { key: TEST_KEY } } })), (f) => { void dev.write(f); });
        void dev.write(new TextEncoder().encode('ESP-ROM:esp32s3-20210327\r\nrst:0xc (RTC_SW_CPU_RST),boot:0x8\r\n'));
        return;
      }
      service.receive(b);
    });
    const logs: string[] = [];
    const client = new Client(host, { timeoutMs: 100, retries: 3, onLog: (l) => logs.push(l) });
    const att = await client.attest();
    assert.ok(att.response.mac.length === 32);
    assert.ok(logs.some((l) => l.startsWith('rst:0xc')), 'reset text surfaced as a log line');
    assert.ok(client.session.stats.retries >= 1);
  });
});

describe('reliability: link faults (emulator over a pty)', function () {
  this.timeout(300_000);
  let emu: Awaited<ReturnType<typeof startEmulator>>;
  let deviceId: string;
  const open: SerialTransport[] = [];

  before(async () => {
    const made = await makeChip('esp32s3', { BLOCK_KEY0: [TEST_KEY, 'HMAC_UP'], BLOCK_KEY1: [TEST_KEY, 'HMAC_UP'] });
    deviceId = made.deviceId;
    emu = await startEmulator({ chip: 'esp32s3', efuse: made.image });
  });
  afterEach(async () => {
    for (const t of open.splice(0)) await t.close();
  });
  after(async () => {
    const s = await emu?.stop();
    if (s) assert.equal(s.callbackErrors, 0, 'no exception escaped the firmware');
  });

  async function serial(): Promise<SerialTransport> {
    // Another program probing serial ports may hold the pty's lock for a moment: try again.
    for (let i = 0; ; i++) {
      try {
        const t = await SerialTransport.open(emu.path);
        open.push(t);
        return t;
      } catch (e) {
        if (i === 20 || !/Cannot lock port/.test(String(e))) throw e;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  for (const rate of RATES) {
    const tries = (LONG ? 10 : 1) * (rate <= 0.001 ? 20 : 10);
    it(`never accepts a bad MAC at per-byte fault rate ${rate} (${tries} attestations)`, async () => {
      const r = await faultTrial(await serial(), TEST_KEY, rate, tries, 2000 + rate * 1e4, { retries: RETRIES, deviceId: Uint8Array.from(Buffer.from(deviceId, 'hex')) });
      console.log(`      ${describeTrial(r)}`);
      checkTrial(r);
    });
  }

  it('a dead link gives a clear TimeoutError after the retry budget', async () => {
    const client = new Client(new FaultyTransport(await serial(), { rx: { drop: 1 } }), { timeoutMs: 50, retries: 3 });
    await assert.rejects(client.attest(), (e: unknown) => e instanceof TimeoutError && /no answer to ATTEST from .* after 4 tries of 50 ms/.test((e as Error).message));
    assert.equal(client.session.stats.retries, 3);
    assert.equal(client.session.stats.timeouts, 1);
  });

  it('a link cut mid-frame in either direction costs one retry', async () => {
    const port = await serial();
    for (const dir of ['tx', 'rx'] as const) {
      const faulty = new FaultyTransport(port, {});
      const client = new Client(faulty, { timeoutMs: 300, retries: 2 });
      faulty.cutAfter(dir, 30, 150);
      verifyAttestation(await client.attest(), { key: TEST_KEY, deviceId });
      assert.equal(client.session.stats.retries, 1, dir);
      if (dir === 'rx') assert.ok(client.session.stats.badFrames >= 1, 'the cut answer was reported, not half-parsed');
    }
  });

  it('device resets mid-exchange on a noisy link cost retries, never a bad answer', async () => {
    const faulty = new FaultyTransport(await serial(), { tx: faultMix(0.003), rx: faultMix(0.003) }, 77);
    const logs: string[] = [];
    const client = new Client(faulty, { timeoutMs: 200, retries: 6, onLog: (l) => logs.push(l) });
    const resets = LONG ? 20 : 4;
    let timeouts = 0;
    for (let i = 0; i < resets; i++) {
      const pending = client.attest();
      await new Promise((r) => setTimeout(r, i % 3)); // before, during or after the device's answer
      await emu.reset();
      // A timeout is allowed (the noise alone fails 7 tries in a row ~0.1 % of the time); a bad answer is not.
      try { verifyAttestation(await pending, { key: TEST_KEY, deviceId }); } catch (e) { if (!(e instanceof TimeoutError)) throw e; timeouts++; }
    }
    verifyAttestation(await client.attest(), { key: TEST_KEY, deviceId });
    const s = client.session.stats;
    console.log(`      ${resets} resets: ${resets - timeouts} verified, ${timeouts} timeouts, ${s.retries} retries, ${s.badFrames} bad frames, ${s.logLines} log lines`);
    assert.ok(timeouts <= Math.max(1, resets / 10), `${timeouts} of ${resets} timed out`);
    assert.ok(logs.some((l) => l.includes('ESP-ROM:esp32s3')), 'boot text seen as log lines');
  });

  it('after a noisy spell the link recovers at once: the next attestation needs no retry', async () => {
    const faulty = new FaultyTransport(await serial(), { tx: faultMix(0.05), rx: faultMix(0.05) }, 5);
    const client = new Client(faulty, { timeoutMs: 100, retries: 1 });
    for (let i = 0; i < 5; i++) await client.attest().catch((e: unknown) => { if (!(e instanceof TimeoutError)) throw e; });
    faulty.setRates({});
    await new Promise((r) => setTimeout(r, 120)); // late answers drain
    const before = client.session.stats.retries;
    verifyAttestation(await client.attest(), { key: TEST_KEY, deviceId });
    assert.equal(client.session.stats.retries, before);
  });

  // Security checks over the real link. Covered elsewhere and not repeated here: the device refusing
  // short nonces by status (conformance), A-as-B and Verifier replays in memory (verify.test.ts),
  // `verify --json` output (cli.test.ts).
  const keyForms = [Buffer.from(TEST_KEY).toString('hex'), Buffer.from(TEST_KEY).toString('hex').toUpperCase(), Buffer.from(TEST_KEY).toString('base64')];
  const hasKey = (text: string) => keyForms.some((k) => text.includes(k));
  const containsBytes = (hay: Uint8Array, needle: Uint8Array) => Buffer.from(hay).includes(Buffer.from(needle));

  it('security: the host refuses a nonce shorter than 16 bytes before anything is sent', async () => {
    const faulty = new FaultyTransport(await serial(), {});
    let sent = 0;
    faulty.onTraffic((dir, b) => { if (dir === 'tx') sent += b.length; });
    const client = new Client(faulty, { timeoutMs: 500 });
    await assert.rejects(client.attest({ nonce: new Uint8Array(15) }), (e: unknown) => e instanceof RangeError && /nonce/.test((e as Error).message));
    await assert.rejects(client.attest({ nonce: new Uint8Array(0) }), RangeError);
    assert.equal(sent, 0);
    assert.throws(() => new Verifier({ keys: keyMap([]), nonceSize: 15 }), RangeError);
  });

  it('security: a recorded answer replayed on the wire for a new challenge is rejected', async () => {
    const port = await serial();
    const verifier = new Verifier({ keys: keyMap([[`${deviceId}/0`, TEST_KEY]]) });
    const honest = new Client(port, { timeoutMs: 500 });
    const first = await honest.attest({ nonce: verifier.challenge(deviceId).nonce });
    assert.equal((await verifier.verify(first)).deviceId, deviceId);
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
    const c2 = verifier.challenge(deviceId);
    const replayed = await fooled.attest({ nonce: c2.nonce });
    assert.deepEqual(replayed.response.mac, first.response.mac);
    assert.throws(() => verifyAttestation(replayed, { key: TEST_KEY, deviceId }), (e: unknown) => e instanceof VerificationError && e.reason === 'MAC');
    await assert.rejects(verifier.verify(replayed), (e: unknown) => e instanceof VerificationError && e.reason === 'MAC');
  });

  it('security: the device never sends its key, even to hostile input on a faulty link; logs and errors never show it', async () => {
    const faulty = new FaultyTransport(await serial(), { tx: faultMix(0.003), rx: faultMix(0.003) }, 11);
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
    assert.ok(!containsBytes(wire, TEST_KEY), 'key bytes on the wire');
    assert.ok(!hasKey(wire.toString('latin1')) && !text.some(hasKey), 'key in logs or errors');
  });

  it('security: `attest --json` and its errors never contain the key bytes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'efa-rel-'));
    const keyFile = join(dir, 'key.bin');
    const wrongKey = join(dir, 'wrong.bin');
    writeFileSync(keyFile, TEST_KEY);
    writeFileSync(wrongKey, new Uint8Array(32).fill(9));
    const runs = [
      { args: ['attest', '--port', emu.path, '--key', keyFile, '--json'], code: 0 },
      { args: ['attest', '--port', emu.path, '--key', wrongKey, '--json'], code: 3 },
      { args: ['attest', '--port', emu.path, '--key', wrongKey, '--debug'], code: 3 },
      { args: ['attest', '--port', emu.path, '--key', keyFile, '--nonce', '00'.repeat(15), '--json'], code: -1 },
      { args: ['token', '--port', emu.path, '--resource', 'hub/devices/x', '--json'], code: 0 },
    ];
    for (const r of runs) {
      const out = await cli(r.args);
      if (r.code >= 0) assert.equal(out.code, r.code, `${r.args.join(' ')}: ${out.stderr}`);
      else assert.notEqual(out.code, 0, r.args.join(' '));
      assert.ok(!hasKey(out.stdout) && !hasKey(out.stderr), `key bytes in the output of ${r.args.join(' ')}`);
    }
  });
});

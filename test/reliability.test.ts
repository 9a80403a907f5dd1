// Link faults between host and device: the host never accepts a bad MAC, retries within its
// budget, and reports a clear timeout otherwise. Success rates per fault rate are printed and
// recorded in docs/reliability.md.
import assert from 'node:assert/strict';
import { Client } from '../host/client.js';
import { TimeoutError } from '../host/errors.js';
import { FaultyTransport } from '../host/transport/faulty.js';
import { MemoryTransport } from '../host/transport/memory.js';
import { AttestService } from '../device/src/service.js';
import { createDevice } from '../device/src/device.js';
import { faultTrial } from './support/faults.js';
import { softChip } from './support/soft-chip.js';
import { TEST_KEY } from './support/targets.js';

function memoryLink() {
  const [host, dev] = MemoryTransport.pair('memory');
  const service = new AttestService(createDevice(softChip({ keys: { 0: { key: TEST_KEY } } })), (f) => { void dev.write(f); });
  dev.onData((b) => service.receive(b));
  return { host, dev, service };
}

describe('reliability: link faults (in-memory device)', function () {
  this.timeout(120_000);
  const long = process.env.EFUSE_ATTEST_FUZZ === 'long';
  for (const rate of [0, 0.001, 0.003, 0.01]) {
    const tries = (long ? 10 : 1) * (rate <= 0.001 ? 40 : 15);
    it(`never accepts a bad MAC at per-byte fault rate ${rate}`, async () => {
      const { host } = memoryLink();
      const r = await faultTrial(host, TEST_KEY, rate, tries, 1000 + rate * 1e4);
      console.log(`      rate ${rate}: ${r.verified}/${r.tries} verified, ${r.timeouts} timeouts, ${r.retries} retries, ${r.badMac} bad MACs`);
      assert.equal(r.badMac, 0);
      assert.equal(r.other, 0);
      assert.equal(r.verified + r.timeouts, r.tries);
      if (rate === 0) assert.equal(r.verified, r.tries);
      if (rate <= 0.001) assert.ok(r.verified >= r.tries * 0.95, `success ${r.verified}/${r.tries} at rate ${rate}`);
    });
  }

  it('a dead link gives a clear TimeoutError after the retry budget', async () => {
    const { host } = memoryLink();
    const client = new Client(new FaultyTransport(host, { tx: { drop: 1 } }), { timeoutMs: 30, retries: 2 });
    await assert.rejects(client.attest(), (e: unknown) => e instanceof TimeoutError && /after 3 tries of 30 ms/.test((e as Error).message));
    assert.equal(client.session.stats.retries, 2);
  });

  it('survives a device reset mid-exchange (boot text, lost state) and answers the retry', async () => {
    const [host, dev] = MemoryTransport.pair('memory');
    let service = new AttestService(createDevice(softChip({ keys: { 0: { key: TEST_KEY } } })), (f) => { void dev.write(f); });
    let resetDone = false;
    dev.onData((b) => {
      if (!resetDone) {
        // Reset after receiving half a request: the device forgets it and prints ROM text.
        resetDone = true;
        service.receive(b.subarray(0, b.length >> 1));
        service = new AttestService(createDevice(softChip({ keys: { 0: { key: TEST_KEY } } })), (f) => { void dev.write(f); });
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

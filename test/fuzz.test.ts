// Device-side fuzzing: hostile input against the running service, then a valid ATTEST must still
// verify. In-memory here; the emulator version (real XS engine) is the `fuzz:` test in emulator.test.ts.
// EFUSE_ATTEST_FUZZ=long (npm run fuzz) runs 100,000 inputs; CI runs a short, seeded version.
import assert from 'node:assert/strict';
import { Client } from '../host/client.js';
import { verifyAttestation } from '../host/verify.js';
import { FrameDecoder } from '../protocol/index.js';
import { FUZZ_COUNT, FUZZ_SEED, hostileInput } from './support/fuzz.js';
import { memoryLink } from './support/memory-link.js';
import { TEST_KEY } from './support/targets.js';

describe('fuzz: device service (in-memory)', function () {
  this.timeout(600_000);
  it(`survives ${FUZZ_COUNT} hostile inputs (seed ${FUZZ_SEED}) and still attests`, async () => {
    let sent = 0;
    const { service } = memoryLink({ answer: () => { sent++; } });
    let bytes = 0;
    for (const chunk of hostileInput(FUZZ_SEED, FUZZ_COUNT)) {
      service.receive(chunk);
      bytes += chunk.length;
    }
    assert.ok(service.stats.requests > 0 && service.stats.errors > 0, 'some inputs decoded and were refused by status');
    const frames = service.decoderStats.frames;
    assert.ok(sent <= frames && sent >= service.stats.requests, `answers (${sent}) are at most one per frame (${frames})`);
    const { host, service: live } = memoryLink();
    for (const chunk of hostileInput(FUZZ_SEED + 1, 200)) live.receive(chunk);
    const client = new Client(host, { timeoutMs: 200, retries: 3 });
    verifyAttestation(await client.attest(), { key: TEST_KEY });
    console.log(`      ${bytes} bytes; ${service.stats.requests} requests answered, ${service.stats.errors} refused by status, ${service.stats.dropped} frames dropped`);
  });

  it('the host frame decoder only ever reports typed events on the same input', () => {
    const d = new FrameDecoder();
    for (const chunk of hostileInput(FUZZ_SEED, Math.min(FUZZ_COUNT, 20_000))) {
      for (const e of d.push(chunk)) assert.ok(e.type === 'frame' || e.type === 'log' || e.type === 'error');
    }
  });
});

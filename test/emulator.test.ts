// End to end through serialport → pty → XS → native C → simulated ESP-IDF, beyond the conformance
// suite: chips without an HMAC peripheral, boot text on the line, resets mid-exchange, hostile
// input through the real engine, and the engine's own memory counters.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '../host/client.js';
import { DeviceError } from '../host/errors.js';
import { startEmulator } from '../host/emulator.js';
import { verifyAttestation } from '../host/verify.js';
import { chipName, PURPOSE_HMAC_UP } from '../protocol/index.js';
import { makeChip } from './support/chips.js';
import { FUZZ_COUNT, FUZZ_SEED, hostileInput } from './support/fuzz.js';
import { emulatorTarget } from './support/more-targets.js';
import { TEST_KEY } from './support/targets.js';

describe('emulator: end to end', function () {
  this.timeout(300_000);

  it('a chip without an HMAC peripheral (the original ESP32) answers INFO and refuses ATTEST and TOKEN clearly', async () => {
    // A blank original ESP32 (its 288-byte eFuse file: virtual chips with keys are for later chips).
    const image = join(mkdtempSync(join(tmpdir(), 'efa-esp32-')), 'esp32.bin');
    writeFileSync(image, new Uint8Array(288));
    const emu = await startEmulator({ chip: 'esp32', efuse: image });
    const client = await Client.open(emu.path);
    try {
      const info = await client.info();
      assert.equal(chipName(info.chip), 'esp32');
      assert.equal(info.hmac, false);
      await assert.rejects(client.attest(), (e: unknown) => e instanceof DeviceError && e.statusName === 'NO_HMAC' && /no HMAC peripheral on esp32/.test(e.detail));
      await assert.rejects(client.token({ resource: 'hub/devices/c2' }), (e: unknown) => e instanceof DeviceError && e.statusName === 'NO_HMAC');
    } finally {
      await client.close();
      await emu.stop();
    }
  });

  it('boot ROM text is on the line and surfaces as log lines, not as answers', async () => {
    const made = await makeChip('esp32s3', { BLOCK_KEY0: [TEST_KEY, 'HMAC_UP'] });
    const emu = await startEmulator({ chip: 'esp32s3', efuse: made.image });
    const logs: string[] = [];
    const client = await Client.open(emu.path, { onLog: (l) => logs.push(l) });
    try {
      await emu.reset(); // the ROM prints again, as on a real reset
      const att = await client.attest();
      verifyAttestation(att, { key: TEST_KEY, deviceId: made.deviceId });
      assert.ok(logs.some((l) => l.startsWith('ESP-ROM:esp32s3')), `boot text seen: ${JSON.stringify(logs.slice(0, 4))}`);
    } finally {
      await client.close();
      await emu.stop();
    }
  });

  it('device nonces are random from power-on: two power-ons of the same chip give different nonces (an entropy source runs for the fill)', async () => {
    const made = await makeChip('esp32s3', { BLOCK_KEY0: [TEST_KEY, 'HMAC_UP'] });
    const nonces: string[] = [];
    for (let i = 0; i < 2; i++) {
      const emu = await startEmulator({ chip: 'esp32s3', efuse: made.image });
      const client = await Client.open(emu.path);
      try {
        const att = await client.attest();
        verifyAttestation(att, { key: TEST_KEY, deviceId: made.deviceId });
        nonces.push(Buffer.from(att.response.deviceNonce).toString("hex"));
      } finally {
        await client.close();
        await emu.stop();
      }
    }
    assert.notEqual(nonces[0], nonces[1], 'a chip without an entropy source repeats its RNG sequence from power-on');
  });

  it('a reset in the middle of an exchange costs a retry, not the answer', async () => {
    const t = await emulatorTarget('esp32s3');
    try {
      const pending = t.client.attest();
      await t.emulator.reset();
      verifyAttestation(await pending, { key: t.key });
      const info = await t.client.info();
      assert.equal(info.keys[0].purpose, PURPOSE_HMAC_UP);
    } finally {
      await t.close();
    }
  });

  it(`fuzz: ${FUZZ_COUNT} hostile inputs (seed ${FUZZ_SEED}) through the real engine; it still attests, memory stays bounded`, async function () {
    this.timeout(FUZZ_COUNT > 10_000 ? 1_800_000 : 300_000);
    const t = await emulatorTarget('esp32s3');
    try {
      verifyAttestation(await t.client.attest(), { key: t.key });
      const before = await t.emulator.stats();
      const started = Date.now();
      let bytes = 0;
      let batch: Uint8Array[] = [];
      let batchLen = 0;
      for (const chunk of hostileInput(FUZZ_SEED, FUZZ_COUNT)) {
        batch.push(chunk);
        batchLen += chunk.length;
        if (batchLen > 32_768) {
          await t.client.session.transport.write(Buffer.concat(batch));
          bytes += batchLen;
          batch = [];
          batchLen = 0;
        }
      }
      if (batchLen) await t.client.session.transport.write(Buffer.concat(batch));
      bytes += batchLen;
      await new Promise((r) => setTimeout(r, 200));
      const att = await t.client.attest();
      verifyAttestation(att, { key: t.key });
      const seconds = (Date.now() - started) / 1000;
      const after = await t.emulator.stats();
      const s = t.client.session.stats;
      console.log(`      seed ${FUZZ_SEED}: ${FUZZ_COUNT} inputs, ${bytes} bytes in ${seconds.toFixed(1)} s; device read ${after.bytesIn - before.bytesIn} B, wrote ${after.bytesOut - before.bytesOut} B (${s.stale} answers to fuzz frames, ${s.badFrames} undecodable)`);
      console.log(`      heap before/after (after GC): chunks ${before.chunkBytes} -> ${after.chunkBytes} B (peak ${after.chunkPeak}), slots ${before.slotBytes} -> ${after.slotBytes} B (peak ${after.slotPeak}), callback errors ${after.callbackErrors}`);
      assert.equal(after.bytesIn - before.bytesIn >= bytes, true, 'the device read every byte sent');
      assert.equal(after.callbackErrors, 0, 'no exception escaped the service');
      assert.ok(after.chunkBytes < before.chunkBytes + 64 * 1024, 'chunk heap did not grow with the input');
      assert.ok(after.slotBytes < before.slotBytes + 64 * 1024, 'slot heap did not grow with the input');
    } finally {
      await t.close();
    }
  });

  it('memory after boot and after 1,000 requests (engine counters)', async () => {
    const t = await emulatorTarget('esp32s3');
    try {
      const boot = await t.emulator.stats();
      for (let i = 0; i < 1000; i++) {
        if (i % 2) await t.client.attest();
        else await t.client.info();
      }
      const after = await t.emulator.stats();
      console.log(`      after boot: chunks ${boot.chunkBytes} B, slots ${boot.slotBytes} B; after 1000 requests: chunks ${after.chunkBytes} B (peak ${after.chunkPeak}), slots ${after.slotBytes} B (peak ${after.slotPeak})`);
      assert.ok(after.chunkBytes < boot.chunkBytes + 16 * 1024 && after.slotBytes < boot.slotBytes + 16 * 1024, 'live memory does not grow per request');
    } finally {
      await t.close();
    }
  });
});

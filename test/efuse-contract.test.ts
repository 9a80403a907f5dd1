// One contract, every EfuseController (STYLE.md §7): the in-memory eFuse the fast provisioning tests
// use (support/memory-efuse.ts) and the virtual chip — the real espefuse on an image, its silicon
// side file, the emulator as the device (host/efuse/virtual-chip.ts). What the in-memory eFuse
// claims about fuses and the device, the real espefuse and emulator are held to here.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EfuseController } from '../host/efuse/controller.js';
import { checkBurnable } from '../host/efuse/preflight.js';
import { openController } from '../host/efuse/open.js';
import { PortEfuse } from '../host/efuse/port.js';
import { VirtualChipEfuse } from '../host/efuse/virtual-chip.js';
import { EspefuseError, VerificationError } from '../host/errors.js';
import { createVirtualChip, readSilicon } from '../host/espefuse/virtual.js';
import { keyBlock } from '../host/espefuse/summary.js';
import { defaultChallenge } from '../host/provision/challenge.js';
import { makeChip } from './support/chips.js';
import { MemoryEfuse } from './support/memory-efuse.js';

interface Maker {
  /** A chip whose blocks are all unused. */
  blank(chip: string): Promise<EfuseController>;
  /** A chip with `keys` burned already (block → [key, purpose]). */
  burned(chip: string, keys: Record<string, [Uint8Array, string]>): Promise<EfuseController>;
  /** What the device's silicon holds in `block`, when the implementation can say. */
  silicon(ef: EfuseController, block: string): Promise<string | undefined>;
}

const dir = mkdtempSync(join(tmpdir(), 'efa-contract-'));
process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
let n = 0;
/** Controllers of the running test, closed after it. */
const opened: EfuseController[] = [];
const track = <T extends EfuseController>(ef: T): T => { opened.push(ef); return ef; };

const makers: [string, Maker][] = [
  ['in-memory', {
    blank: async (chip) => track(new MemoryEfuse({ chip })),
    burned: async (chip, keys) => track(new MemoryEfuse({ chip, keys })),
    silicon: async (ef, block) => { const k = (ef as MemoryEfuse).keyIn(block); return k ? Buffer.from(k).toString('hex') : undefined; },
  }],
  ['virtual chip (espefuse, emulator)', {
    blank: async (chip) => track(new VirtualChipEfuse(chip, (await createVirtualChip({ chip, out: join(dir, `c${++n}.bin`) })).image, { startTimeoutMs: 20_000 })),
    burned: async (chip, keys) => track(new VirtualChipEfuse(chip, (await makeChip(chip, keys)).image, { startTimeoutMs: 20_000 })),
    silicon: async (ef, block) => (await readSilicon((ef as VirtualChipEfuse).image))?.keys[block],
  }],
];

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const slot0 = (ef: EfuseController, deviceId: string) => ({ efuse: ef, chip: ef.chip, deviceId, block: 'BLOCK_KEY0', slot: 0 });

for (const [name, make] of makers) {
  describe(`eFuse controller contract: ${name}`, function () {
    this.timeout(60_000);
    afterEach(async () => { for (const ef of opened.splice(0)) await ef.close(); });

    for (const chip of ['esp32s3', 'esp32c3']) {
      it(`${chip}: a blank chip reads as six unused key blocks, a unicast device id, RD_DIS writable`, async () => {
        const ef = await make.blank(chip);
        const s = await ef.summary();
        assert.equal(s.chip, chip);
        assert.equal(ef.chip, chip);
        assert.match(s.mac, /^[0-9a-f]{12}$/);
        assert.equal(parseInt(s.mac.slice(0, 2), 16) & 1, 0);
        assert.deepEqual(s.keys.map((k) => [k.block, k.slot, k.purpose, k.purposeCode, k.unused, k.empty, k.readProtected, k.writeProtected, k.purposeWritable]),
          [0, 1, 2, 3, 4, 5].map((i) => [`BLOCK_KEY${i}`, i, 'USER', 0, true, true, false, false, true]));
        assert.equal(s.rdDisWritable, true);
        assert.equal(s.secureBoot, false);
        assert.equal(s.flashEncryption, false);
        checkBurnable(chip, s, 'BLOCK_KEY0');
        assert.equal(await make.silicon(ef, 'BLOCK_KEY0'), undefined);
        await ef.close();
        await ef.close(); // idempotent
      });
    }

    it('burnKey: HMAC_UP, read- and write-protected, purpose locked, the others untouched; the silicon holds the key; the device attests with it alone', async () => {
      const ef = await make.blank('esp32s3');
      const key = new Uint8Array(randomBytes(32));
      const s = await ef.burnKey('BLOCK_KEY0', key);
      const k = keyBlock(s, 'BLOCK_KEY0');
      assert.deepEqual([k.purpose, k.purposeCode, k.readProtected, k.writeProtected, k.purposeWritable, k.unused, k.empty], ['HMAC_UP', 8, true, true, false, false, false]);
      assert.ok(s.keys.filter((b) => b.slot !== 0).every((b) => b.unused && b.purposeWritable));
      assert.deepEqual(await ef.summary(), s, 'a fresh summary shows the same');
      assert.equal(await make.silicon(ef, 'BLOCK_KEY0'), hex(key));
      await defaultChallenge({ timeoutMs: 5000 })(slot0(ef, s.mac), key);
      const wrong = Uint8Array.from(key);
      wrong[31] ^= 1;
      await assert.rejects(defaultChallenge({ timeoutMs: 5000 })(slot0(ef, s.mac), wrong), (e: unknown) => e instanceof VerificationError && e.reason === 'MAC');
    });

    it('a used block: checkBurnable refuses it (BLOCK_USED); burnKey never changes its fuses nor the key the device uses', async () => {
      const first = new Uint8Array(randomBytes(32));
      const ef = await make.burned('esp32c3', { BLOCK_KEY0: [first, 'HMAC_UP'] });
      const before = await ef.summary();
      assert.throws(() => checkBurnable('esp32c3', before, 'BLOCK_KEY0'), (e: unknown) => e instanceof EspefuseError && e.code === 'BLOCK_USED');
      const second = new Uint8Array(randomBytes(32));
      await ef.burnKey('BLOCK_KEY0', second).then(
        (s) => assert.deepEqual(s, before, 'a burn that "succeeds" on a used block changed nothing'),
        (e: unknown) => assert.ok(e instanceof EspefuseError, String(e)));
      assert.deepEqual(await ef.summary(), before);
      assert.equal(await make.silicon(ef, 'BLOCK_KEY0'), hex(first), 'the silicon keeps the key burned first');
      await defaultChallenge({ timeoutMs: 5000 })(slot0(ef, before.mac), first);
    });

    it('a block burned as a readable USER key: used, write-protected, holds data', async () => {
      const ef = await make.burned('esp32s3', { BLOCK_KEY2: [new Uint8Array(randomBytes(32)), 'USER'] });
      const s = await ef.summary();
      const k = keyBlock(s, 'BLOCK_KEY2');
      assert.deepEqual([k.purpose, k.readProtected, k.writeProtected, k.empty, k.unused], ['USER', false, true, false, false]);
      assert.throws(() => checkBurnable('esp32s3', s, 'BLOCK_KEY2'), (e: unknown) => e instanceof EspefuseError && e.code === 'BLOCK_USED');
    });

    it('plannedCommands: one read without a burn; read, burn-key BLOCK … HMAC_UP, read with one', async () => {
      const ef = await make.blank('esp32c3');
      assert.equal(ef.plannedCommands('BLOCK_KEY3', false).length, 1);
      const lines = ef.plannedCommands('BLOCK_KEY3', true);
      assert.equal(lines.length, 3);
      assert.match(lines[1]!, /burn-key BLOCK_KEY3 .* HMAC_UP/);
      assert.equal(lines[0], lines[2]);
    });
  });
}

describe('eFuse controllers for a port and by target (no board needed)', () => {
  it('a port: espefuse --port (and --baud) in the planned commands; the device is that port at that baud', async () => {
    const ef = new PortEfuse('esp32c3', '/dev/ttyUSB7', { baud: 460800 });
    assert.equal(ef.label, 'port /dev/ttyUSB7');
    const lines = ef.plannedCommands('BLOCK_KEY1', true);
    assert.match(lines[0]!, /^espefuse --chip esp32c3 --port \/dev\/ttyUSB7 --baud 460800 summary /);
    assert.match(lines[1]!, /--do-not-confirm burn-key BLOCK_KEY1 '<private temp dir>\/key\.bin' HMAC_UP {4}# key\.bin = \[(\?\? ){31}\?\?\]$/);
    const link = await ef.openDevice();
    assert.deepEqual([link.path, link.baud, link.transport], ['/dev/ttyUSB7', 460800, undefined]);
    await link.close();
    await ef.close();
  });

  it('openController: a port or a virtual chip by target kind; anything else is a TypeError', () => {
    assert.ok(openController('esp32s3', { kind: 'port', port: '/dev/ttyACM0' }) instanceof PortEfuse);
    const v = openController('esp32s3', { kind: 'virt', image: 'chip.bin' });
    assert.ok(v instanceof VirtualChipEfuse);
    assert.equal(v.label, 'virt chip.bin');
    assert.throws(() => openController('esp32s3', { kind: 'usb' } as never), TypeError);
    assert.throws(() => openController('esp32x9', { kind: 'virt', image: 'chip.bin' }), RangeError);
  });
});

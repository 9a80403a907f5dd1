// The emulator built from xsl's archive of the firmware (scripts/firmware/linked.ts; setup.sh makes it
// when a Moddable SDK or the sdk-kit is here): it boots as a device does, from the preloaded heap in
// read-only memory, and attests; its heap after boot holds only what the firmware allocates at run time.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '../host/client.js';
import { startEmulator } from '../host/emulator.js';
import { verifyAttestation } from '../host/verify.js';
import { chipName } from '../protocol/index.js';
import { linkedBuildDir } from '../scripts/firmware/linked.js';
import { makeChip } from './support/chips.js';
import { TEST_KEY } from './support/targets.js';

describe('emulator: linked from xsl\'s archive', function () {
  this.timeout(60_000);
  const binary = join(linkedBuildDir(), 'esp32s3', 'efuse-attest-emu');

  before(function () {
    if (!existsSync(binary)) this.skip(); // no SDK here: setup.sh did not make it
  });

  it('boots from the archive, answers INFO and ATTEST, and its heap holds no module', async () => {
    const made = await makeChip('esp32s3', { BLOCK_KEY0: [TEST_KEY, 'HMAC_UP'] });
    const emu = await startEmulator({ chip: 'esp32s3', efuse: made.image, binary });
    const client = await Client.open(emu.path);
    try {
      const boot = await emu.stats();
      const info = await client.info();
      assert.equal(chipName(info.chip), 'esp32s3');
      assert.equal(info.hmac, true);
      const att = await client.attest();
      verifyAttestation(att, { key: TEST_KEY, deviceId: made.deviceId });
      // The parsed build holds every module's code and objects: over 6,000 slots after boot.
      assert.ok(boot.heapCount < 1000, `slots in use after boot: ${boot.heapCount}`);
      assert.equal((await emu.stats()).callbackErrors, 0);
    } finally {
      await client.close();
      await emu.stop();
    }
  });

  it('refuses --config-json, which would change a firmware the archive fixes', async () => {
    const made = await makeChip('esp32s3', {});
    await assert.rejects(startEmulator({ chip: 'esp32s3', efuse: made.image, binary, configJson: { attestUart: { baud: 9600 } } }),
      /--main and --config-json need the parsed build/);
  });
});

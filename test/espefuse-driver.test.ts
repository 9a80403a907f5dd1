// The espefuse driver's own proof of a burn: espefuse answers "Aborting." and exit 0 when its BURN
// prompt is not answered (DESIGN.md), so an exit status proves nothing. burnKey re-reads the eFuses
// itself and reports a burn it cannot see as not burned, before any later step could notice.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EspefuseError } from '../host/errors.js';
import { Espefuse } from '../host/espefuse/driver.js';
import { findEspefuse } from '../host/espefuse/locate.js';
import { keyBlock } from '../host/espefuse/summary.js';
import { createVirtualChip } from '../host/espefuse/virtual.js';

describe('espefuse driver: a burn espefuse did not make', function () {
  this.timeout(60_000);
  let dir = '';
  before(() => { dir = mkdtempSync(join(tmpdir(), 'efa-driver-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('"Aborting." with exit 0 is reported by burnKey as BURN_UNCONFIRMED, and nothing is burned', async () => {
    const image = join(dir, 'chip.bin');
    await createVirtualChip({ chip: 'esp32s3', out: image });
    // espefuse as it behaves when its BURN prompt is answered with anything else: it says
    // "Aborting." and exits 0. Every other command goes to the real espefuse.
    const fake = join(dir, 'espefuse-aborting');
    writeFileSync(fake, `#!/bin/sh
for a in "$@"; do
  if [ "$a" = burn-key ]; then echo "Type 'BURN' (all capitals) to continue."; echo "Aborting."; exit 0; fi
done
exec "${findEspefuse()}" "$@"
`);
    chmodSync(fake, 0o700);
    const ef = new Espefuse('esp32s3', { kind: 'virt', image }, { bin: fake });
    await assert.rejects(ef.burnKey('BLOCK_KEY0', new Uint8Array(randomBytes(32))), (e: unknown) => {
      assert.ok(e instanceof EspefuseError, String(e));
      assert.equal(e.code, 'BURN_UNCONFIRMED');
      assert.match(e.message, /espefuse reported success but BLOCK_KEY0 .* not HMAC_UP and read-protected/);
      return true;
    });
    assert.equal(ef.connection.mode, 'command', 'a wrapper that is not a Python script of espefuse is run as a command');
    const check = new Espefuse('esp32s3', { kind: 'virt', image });
    const block = keyBlock(await check.summary(), 'BLOCK_KEY0');
    await check.close();
    assert.notEqual(block.purpose, 'HMAC_UP', 'the block is still unused');
  });
});

// AES-GCM under one key with a repeated nonce gives away the authentication key and the XOR of the
// plaintexts: every seal must draw a fresh nonce — the envelope's per-record seals and the vault
// file's own encryption at every write.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gcmSeal } from '../host/escrow/envelope.js';
import { newRecord } from '../host/escrow/store.js';
import { readHeader } from '../host/escrow/vault-format.js';
import { FileVault } from '../host/escrow/vault.js';
import { generateKey } from '../host/keys.js';

describe('escrow: a fresh AEAD nonce at every seal', function () {
  this.timeout(60_000);

  it('gcmSeal: 1,000 seals of one plaintext under one key carry 1,000 different nonces', () => {
    const key = generateKey();
    const plain = new Uint8Array(32).fill(7);
    const nonces = new Set<string>();
    for (let i = 0; i < 1000; i++) nonces.add(Buffer.from(gcmSeal(key, plain, new Uint8Array(0)).subarray(0, 12)).toString('hex'));
    assert.equal(nonces.size, 1000);
  });

  it('the vault file: every write has a new nonce', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'efa-nonce-'));
    try {
      const path = join(dir, 'escrow.vault');
      const vault = await FileVault.open(path, { passphrase: 'nonce test', kdf: { log2N: 14, r: 8, p: 1 } });
      const nonces = new Set<string>();
      for (let i = 0; i < 8; i++) {
        const rec = newRecord({ deviceId: `7cdfa10000${i.toString(16).padStart(2, '0')}`, chip: 'esp32s3', block: 'BLOCK_KEY0', purpose: 'HMAC_UP', key: generateKey() });
        await vault.put(rec);
        nonces.add(Buffer.from(readHeader(readFileSync(path), path).nonce).toString('hex'));
      }
      assert.equal(nonces.size, 8, 'eight writes, eight nonces');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

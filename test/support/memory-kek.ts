// A key-encryption key kept in memory, standing in for a token's: AES-GCM under a fixed key, with
// the envelope's own seal and open. For the escrow tests that need a KEK without SoftHSM2.
import { gcmOpen, gcmSeal, type Kek } from '../../host/escrow/envelope.js';

/** `fill`: every byte of the AES key, so two KEKs with different fills cannot unwrap each other's keys. */
export const memoryKek = (id: string, fill = 7): Kek => {
  const key = new Uint8Array(32).fill(fill);
  return {
    id,
    async wrap(dk, a) { return gcmSeal(key, dk, a); },
    async unwrap(w, a) { const dk = gcmOpen(key, w, a); if (!dk) throw new Error('unwrap'); return dk; },
  };
};

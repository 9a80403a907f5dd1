// Seeded generator of hostile device input: valid requests with flipped bits, truncated frames,
// oversize length headers, wrong CRCs, random text, sync-byte storms, large random bursts, runs of
// back-to-back valid headers each claiming a maximal body (the CPU amplifier of docs/protocol.md
// §2.1: `A5 5A 00 04 FF FB` repeated), and valid requests among them.
// Reproducible: the same seed gives the same bytes.
import { encodeFrame, encodeRequest, type Request } from '../../protocol/index.js';
import { prng } from './faulty.js';

/** Inputs per fuzz run: EFUSE_ATTEST_FUZZ=long (npm run fuzz) runs 100,000, CI a short seeded run. */
export const FUZZ_COUNT = process.env.EFUSE_ATTEST_FUZZ === 'long' ? 100_000 : 5_000;
export const FUZZ_SEED = Number(process.env.EFUSE_ATTEST_FUZZ_SEED ?? 20261124);

/** `A5 5A 00 04 FF FB` repeated to n bytes: a valid 1024-byte frame header every 6 bytes. */
export function amplifier(n: number): Uint8Array {
  const pattern = [0xa5, 0x5a, 0x00, 0x04, 0xff, 0xfb];
  return Uint8Array.from({ length: n }, (_, i) => pattern[i % 6]!);
}

export function* hostileInput(seed: number, count: number): Generator<Uint8Array> {
  const rnd = prng(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => int(256));
  const request = (): Request => {
    const id = int(0x10000);
    switch (int(4)) {
      case 0: return { type: 'ping', id, data: bytes(int(65)) };
      case 1: return { type: 'info', id };
      case 2: return { type: 'attest', id, slot: int(6), nonce: bytes(16 + int(49)) };
      default: return { type: 'token', id, slot: int(6), expiry: 1 + int(0xfffffffe), resource: 'r'.repeat(1 + int(200)), keyName: '' };
    }
  };
  for (let i = 0; i < count; i++) {
    const kind = int(10);
    if (kind === 8) {
      yield encodeFrame(encodeRequest(request()));
    } else if (kind === 0) {
      const f = encodeFrame(encodeRequest(request()));
      for (let k = 1 + int(3); k > 0; k--) f[int(f.length)] ^= 1 << int(8);
      yield f;
    } else if (kind === 1) {
      const f = encodeFrame(encodeRequest(request()));
      yield f.subarray(0, int(f.length));
    } else if (kind === 2) {
      const n = 1025 + int(0xffff - 1025);
      yield Uint8Array.of(0xa5, 0x5a, n & 255, n >> 8, ~n & 255, (~n >> 8) & 255, ...bytes(int(32)));
    } else if (kind === 3) {
      const f = encodeFrame(encodeRequest(request()));
      f[f.length - 1 - int(4)] ^= 1 + int(255);
      yield f;
    } else if (kind === 4) {
      yield new TextEncoder().encode('I (' + int(99999) + ') boot: random text line ' + 'x'.repeat(int(300)) + '\r\n');
    } else if (kind === 5) {
      yield Uint8Array.from({ length: 1 + int(64) }, () => (rnd() < 0.5 ? 0xa5 : 0x5a));
    } else if (kind === 6) {
      // A syntactically valid frame whose message is garbage (bad version, type, lengths).
      yield encodeFrame(bytes(1 + int(200)));
    } else if (kind === 7) {
      yield bytes(int(8) === 0 ? 16384 : 1 + int(512));
    } else if (kind === 9) {
      yield amplifier(int(8) === 0 ? 6 * 2048 : 6 * (1 + int(200)));
    }
  }
}

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  buildTranscript, crc32, decodeRequest, decodeResponse, encodeFrame, encodeRequest, encodeResponse,
  FrameDecoder, type FrameEvent, fromHex, MalformedError, MAX_PAYLOAD, parseSasToken, type Request,
  type Response, sasStringToSign, toHex, formatSasToken, utf8Decode, utf8Encode, fromBase64, toBase64,
} from '../protocol/index.js';
import { crc32Slice } from '../protocol/crc32.js';
import { hmacSha256 } from '../host/verify.js';
import { amplifier, hostileInput } from './support/fuzz.js';
import { ROOT, vectors } from './support/vectors.js';

function frames(events: FrameEvent[]): string[] {
  return events.filter((e) => e.type === 'frame').map((e) => toHex((e as { payload: Uint8Array }).payload));
}

function decodeAll(chunks: Uint8Array[]): FrameEvent[] {
  const d = new FrameDecoder();
  const out: FrameEvent[] = [];
  for (const c of chunks) out.push(...d.push(c));
  out.push(...d.flush());
  return out;
}

const enc = (s: string) => utf8Encode(s);

describe('protocol: known-answer vectors (docs/protocol.md §8)', () => {
  it('crc32', () => {
    for (const v of vectors.crc32) assert.equal(crc32(fromHex(v.input)).toString(16).padStart(8, '0'), v.crc);
  });

  it('encodes every vector frame byte for byte, and decodes it back', () => {
    for (const v of vectors.frames) {
      assert.equal(toHex(encodeFrame(fromHex(v.message))), v.frame, v.name);
      assert.deepEqual(frames(decodeAll([fromHex(v.frame)])), [v.message], v.name);
    }
  });

  it('decodes vector messages and re-encodes them identically', () => {
    for (const v of vectors.frames) {
      const m = fromHex(v.message);
      const re = m[1] & 0x80 || m[1] === 0x7f ? encodeResponse(decodeResponse(m)) : encodeRequest(decodeRequest(m));
      assert.equal(toHex(re), v.message, v.name);
    }
  });

  it('builds the vector transcript and its HMAC', () => {
    const a = vectors.attestation;
    const fields = {
      chip: a.chip as number, revision: a.revision as number, deviceId: fromHex(a.deviceId as string), slot: a.slot as number,
      purpose: a.purpose as number, readProtected: a.readProtected as boolean, writeProtected: a.writeProtected as boolean,
      hmac: a.hmac as boolean, secureBoot: a.secureBoot as boolean, flashEncryption: a.flashEncryption as boolean,
      firmwareId: fromHex(a.firmwareId as string), firmwareVersion: a.firmwareVersion as string, deviceNonce: fromHex(a.deviceNonce as string),
    };
    const t = buildTranscript(fields, fromHex(a.hostNonce as string));
    assert.equal(toHex(t), a.transcript);
    assert.equal(toHex(hmacSha256(fromHex(a.key as string), t)), a.mac);
    assert.equal(t[0], 0x00, 'transcript starts with a non-printable tag');
  });

  it('the ATTEST response vector carries the transcript fields and MAC', () => {
    const v = vectors.frames.find((f) => f.name.startsWith('ATTEST response'))!;
    const r = decodeResponse(fromHex(v.message));
    assert.equal(r.type, 'attest');
    if (r.type !== 'attest') return;
    assert.equal(toHex(r.attestation.mac), vectors.attestation.mac);
    assert.equal(toHex(r.attestation.deviceId), vectors.attestation.deviceId);
    assert.equal(r.attestation.readProtected, true);
  });

  it('SAS string-to-sign, signature and token', () => {
    const t = vectors.token;
    assert.equal(utf8Decode(sasStringToSign(t.resource, t.expiry)), t.stringToSign);
    const sig = hmacSha256(fromHex(t.key), sasStringToSign(t.resource, t.expiry));
    assert.equal(toHex(sig), t.signature);
    assert.equal(formatSasToken(t.resource, t.expiry, sig), t.token);
    const p = parseSasToken(t.token);
    assert.equal(p.resource, t.resource);
    assert.equal(p.expiry, t.expiry);
    assert.equal(toHex(p.signature), t.signature);
  });

  it('docs/protocol.md carries the same vectors the tests use', () => {
    const doc = readFileSync(ROOT + 'docs/protocol.md', 'utf8');
    for (const v of vectors.frames) assert.ok(doc.includes(v.frame), `protocol.md lacks frame ${v.name}`);
    assert.ok(doc.includes(vectors.attestation.transcript as string));
    assert.ok(doc.includes(vectors.attestation.mac as string));
    assert.ok(doc.includes(vectors.token.token));
    for (const t of vectors.tokens) assert.ok(doc.includes(t.token), `protocol.md lacks the token for ${t.resource}`);
  });
});

const REQUESTS: Request[] = [
  { type: 'ping', id: 0, data: new Uint8Array(0) },
  { type: 'ping', id: 0xffff, data: new Uint8Array(64).fill(7) },
  { type: 'info', id: 9 },
  { type: 'attest', id: 1, slot: 5, nonce: new Uint8Array(16).fill(1) },
  { type: 'attest', id: 2, slot: 0, nonce: new Uint8Array(64).fill(2) },
  { type: 'token', id: 3, slot: 2, expiry: 0xffffffff, resource: 'hub/devices/é✓', keyName: 'device' },
];

const STATE = {
  chip: 5, revision: 104, deviceId: fromHex('0a0b0c0d0e0f'), hmac: true, secureBoot: true, flashEncryption: false,
  firmwareId: new Uint8Array(32).fill(9), firmwareVersion: 'v1.2.3-rc.1',
};
const RESPONSES: Response[] = [
  { type: 'ping', id: 4, data: enc('pong') },
  { type: 'info', id: 5, info: { ...STATE, keys: [{ purpose: 8, readProtected: true, writeProtected: true, unused: false }, { purpose: 0, readProtected: false, writeProtected: false, unused: true }] } },
  { type: 'info', id: 5, info: { ...STATE, keys: [] } },
  { type: 'attest', id: 6, attestation: { ...STATE, slot: 3, purpose: 8, readProtected: true, writeProtected: false, deviceNonce: new Uint8Array(16).fill(3), mac: new Uint8Array(32).fill(4) } },
  { type: 'token', id: 7, token: 'SharedAccessSignature sr=a&sig=b&se=1' },
  { type: 'error', id: 8, status: 7, espErr: -1, detail: 'ESP_FAIL: purpose' },
  { type: 'error', id: 8, status: 8, espErr: 0x102, detail: '' },
];

describe('protocol: codec round trips', () => {
  it('requests', () => {
    for (const r of REQUESTS) assert.deepEqual(decodeRequest(encodeRequest(r)), r);
  });
  it('responses', () => {
    for (const r of RESPONSES) assert.deepEqual(decodeResponse(encodeResponse(r)), r);
  });
  it('utf8 and base64 agree with Node', () => {
    for (const s of ['', 'a', 'é', '✓', '𝄞', 'mixed é✓𝄞 text']) {
      assert.equal(toHex(utf8Encode(s)), Buffer.from(s, 'utf8').toString('hex'));
      assert.equal(utf8Decode(utf8Encode(s)), s);
    }
    for (let n = 0; n < 40; n++) {
      const b = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 255);
      assert.equal(toBase64(b), Buffer.from(b).toString('base64'));
      assert.deepEqual(fromBase64(toBase64(b)), b);
    }
    assert.equal(utf8Decode(Uint8Array.of(0xff, 0x41, 0xc3)), '\ufffdA\ufffd');
  });
});

describe('protocol: framing', () => {
  const payloads = [enc('one'), new Uint8Array(MAX_PAYLOAD).fill(0xa5), Uint8Array.of(0xa5, 0x5a, 0, 0), enc('last')];
  const stream = () => {
    const parts: Uint8Array[] = [enc('ESP-ROM:esp32s3-20210327\r\nrst:0x1 (POWERON)\r\n')];
    for (const p of payloads) { parts.push(encodeFrame(p)); parts.push(enc('log line between\n')); }
    return Buffer.concat(parts);
  };

  it('decodes the same events whole, byte by byte, and at every split point', () => {
    const whole = decodeAll([stream()]);
    assert.deepEqual(frames(whole), payloads.map(toHex));
    const logs = whole.filter((e) => e.type === 'log').map((e) => (e as { text: string }).text);
    assert.deepEqual(logs.slice(0, 2), ['ESP-ROM:esp32s3-20210327', 'rst:0x1 (POWERON)']);
    assert.equal(logs.filter((l) => l === 'log line between').length, payloads.length);
    const s = new Uint8Array(stream());
    assert.deepEqual(decodeAll(Array.from(s, (b) => Uint8Array.of(b))), whole);
    for (let i = 1; i < s.length; i += 97) assert.deepEqual(decodeAll([s.subarray(0, i), s.subarray(i)]), whole, `split at ${i}`);
  });

  it('drops a frame with a flipped bit, reports it, and finds the next one', () => {
    for (let bit = 0; bit < 8 * 12; bit++) {
      const bad = encodeFrame(enc('payload!'));
      bad[Math.floor(bit / 8)] ^= 1 << (bit % 8);
      const ev = decodeAll([bad, encodeFrame(enc('good'))]);
      assert.deepEqual(frames(ev), [toHex(enc('good'))], `bit ${bit}`);
    }
    const crcBad = encodeFrame(enc('payload!'));
    crcBad[8] ^= 0x10;
    const ev = decodeAll([crcBad]);
    assert.ok(ev.some((e) => e.type === 'error' && e.reason === 'crc'));
  });

  it('recovers when a frame is cut mid-way and another follows (device reset)', () => {
    const cut = encodeFrame(new Uint8Array(200).fill(1)).subarray(0, 100);
    const d = new FrameDecoder();
    const before = d.push(Buffer.concat([cut, enc('rst:0xc (RTC_SW_CPU_RST)\r\n'), encodeFrame(enc('after'))]));
    assert.deepEqual(frames(before), [], 'still waiting for the cut frame to complete');
    const ev = d.flush(); // the link went idle
    assert.deepEqual(frames(ev), [toHex(enc('after'))]);
    assert.ok(ev.some((e) => e.type === 'error' && e.reason === 'truncated'));
    assert.ok(ev.some((e) => e.type === 'log' && e.text.endsWith('rst:0xc (RTC_SW_CPU_RST)')), 'the reset text surfaces as a log line');
  });

  it('reports oversize frames without waiting for them', () => {
    const hdr = Uint8Array.of(0xa5, 0x5a, 0x01, 0x04, 0xfe, 0xfb); // LEN 1025
    const ev = decodeAll([hdr, encodeFrame(enc('next'))]);
    assert.ok(ev.some((e) => e.type === 'error' && e.reason === 'oversize'));
    assert.deepEqual(frames(ev), [toHex(enc('next'))]);
  });

  it('cuts very long text lines and never grows without bound', () => {
    const d = new FrameDecoder();
    const ev = d.push(new Uint8Array(10_000).fill(0x41));
    assert.equal(ev.length, Math.floor(10_000 / 256));
    assert.ok(ev.every((e) => e.type === 'log' && e.text.length === 256));
  });

  it('random bytes only ever give frame, log or error events', () => {
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 255;
    const d = new FrameDecoder();
    for (let round = 0; round < 2000; round++) {
      const chunk = Uint8Array.from({ length: 1 + (rnd() % 64) }, () => (rnd() < 40 ? 0xa5 : rnd() < 40 ? 0x5a : rnd()));
      for (const e of d.push(chunk)) assert.ok(['frame', 'log', 'error'].includes(e.type));
    }
    assert.deepEqual(frames(d.push(encodeFrame(enc('still works')))), [toHex(enc('still works'))]);
  });
});

describe('protocol: framing work is bounded per input byte (docs/protocol.md §2.1)', () => {
  const noise = (n: number) => {
    let x = 0x2545f491;
    return Uint8Array.from({ length: n }, () => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return x & 0xff; });
  };
  /**
   * The decoder's own count of its work (bytes scanned, run through the CRC and moved) per input byte,
   * decoding `input` in 256-byte chunks with an idle flush every `flushEvery` bytes. A count, so the
   * bound is exact whatever the machine's load; the time it takes is benchmark 7's (bench/amplify.ts).
   */
  const workPerByte = (input: Uint8Array, flushEvery: number): number => {
    const d = new FrameDecoder();
    for (let o = 0; o < input.length; o += 256) {
      d.push(input.subarray(o, o + 256));
      if ((o + 256) % flushEvery === 0) d.flush();
    }
    d.flush();
    return d.stats.work / input.length;
  };

  /** §2.1 read literally over the whole input at once: a candidate's CRC over its body, every time. */
  function reference(input: Uint8Array): string[] {
    const out: string[] = [];
    let line = '';
    const text = (c: number) => { if (c === 0x0a) { if (line) out.push('log'); line = ''; } else if (c !== 0x0d) { line += 'x'; if (line.length === 256) { out.push('log'); line = ''; } } };
    let i = 0;
    while (i < input.length) {
      const n = input[i + 2]! | (input[i + 3]! << 8);
      const ok = input[i] === 0xa5 && i + 6 <= input.length && input[i + 1] === 0x5a && ((n ^ (input[i + 4]! | (input[i + 5]! << 8))) === 0xffff) && n !== 0;
      if (!ok) { if (input[i] === 0xa5 && i + 6 > input.length && (i + 1 >= input.length || input[i + 1] === 0x5a)) out.push('truncated'); text(input[i++]!); continue; }
      if (n > MAX_PAYLOAD) { out.push('oversize'); text(input[i++]!); continue; }
      if (i + 10 + n > input.length) { out.push('truncated'); text(input[i++]!); continue; }
      const want = (input[i + 6 + n]! | (input[i + 7 + n]! << 8) | (input[i + 8 + n]! << 16) | (input[i + 9 + n]! << 24)) >>> 0;
      if (crc32(input, i + 6, i + 6 + n) !== want) { out.push('crc'); text(input[i++]!); continue; }
      if (line) { out.push('log'); line = ''; }
      out.push('frame ' + toHex(input.subarray(i + 6, i + 6 + n)));
      i += 10 + n;
    }
    if (line) out.push('log');
    return out;
  }

  it('gives the events of a literal reading of §2.1 on hostile input with amplifier runs, in any chunking', () => {
    const parts = [...hostileInput(777, 400)];
    const all = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
    let o = 0;
    for (const p of parts) { all.set(p, o); o += p.length; }
    const want = reference(all);
    const kinds = (events: FrameEvent[]) => events.map((e) => e.type === 'frame' ? 'frame ' + toHex(e.payload) : e.type === 'error' ? e.reason : 'log');
    for (const size of [all.length, 1, 7, 256, 1500]) {
      const d = new FrameDecoder();
      const got: FrameEvent[] = [];
      for (let k = 0; k < all.length; k += size) got.push(...d.push(all.subarray(k, k + size)));
      got.push(...d.flush());
      assert.deepEqual(kinds(got), want, `chunks of ${size}`);
    }
  });

  it('crc32Slice: the CRC of any slice from the running CRCs at its ends equals crc32 of the slice', () => {
    const data = noise(2100);
    const run = [0];
    for (let k = 1; k <= data.length; k++) run.push(crc32(data, 0, k));
    for (const [a, n] of [[0, 0], [0, 1], [5, 1024], [1000, 7], [17, 1000], [1, 1024], [1076, 1024]] as const) {
      assert.equal(crc32Slice(run[a]!, run[a + n]!, n), crc32(data, a, a + n), `slice ${a}+${n}`);
    }
  });

  it('the amplifier input (A5 5A 00 04 FF FB repeated) costs a bounded amount of work per byte, as random bytes do', () => {
    const n = 256 * 1024;
    const amp = amplifier(n);
    const events = decodeAll([amp]);
    assert.ok(events.every((e) => e.type !== 'frame'), 'no frame in it');
    const a = workPerByte(amp, n);
    const r = workPerByte(noise(n), n);
    assert.ok(r >= 1 && r < 2, `random bytes: ${r.toFixed(2)} steps per byte`);
    // Measured 6.0 (each byte scanned, CRC'd and moved a bounded number of times); re-reading the
    // buffer per candidate would be hundreds (a frame's worth per byte).
    assert.ok(a < 8, `amplifier: ${a.toFixed(2)} steps per byte (bounded: a constant, not one per buffered byte)`);
    const quarter = workPerByte(amplifier(n / 4), n / 4);
    assert.ok(Math.abs(a - quarter) / a < 0.05, `the same per byte at ${n / 4} and ${n} bytes (${quarter.toFixed(2)}, ${a.toFixed(2)}): linear`);
  });

  it('idle flushes of a buffer full of candidate frames cost one pass, not one per byte', () => {
    const n = 128 * 1024;
    const a = workPerByte(amplifier(n), 2048);
    assert.ok(a < 8, `amplifier with a flush every 2 KiB: ${a.toFixed(2)} steps per byte (measured 4.1)`);
  });
});

describe('protocol: bad inputs are refused cleanly', () => {
  const hdr = (type: number, body: number[] = [], version = 1) => Uint8Array.of(version, type, 1, 0, ...body);
  const badRequests: [string, Uint8Array, string][] = [
    ['empty', new Uint8Array(0), 'MALFORMED'],
    ['short header', Uint8Array.of(1, 2, 3), 'MALFORMED'],
    ['version 2', hdr(2, [], 2), 'BAD_VERSION'],
    ['version 0', hdr(2, [], 0), 'BAD_VERSION'],
    ['unknown type', hdr(0x33), 'UNKNOWN_TYPE'],
    ['response type as request', hdr(0x82), 'UNKNOWN_TYPE'],
    ['INFO with a body', hdr(2, [0]), 'MALFORMED'],
    ['PING over 64 bytes', hdr(1, new Array(65).fill(0)), 'MALFORMED'],
    ['ATTEST without nonce length', hdr(3, [0]), 'MALFORMED'],
    ['ATTEST nonce shorter than its length', hdr(3, [0, 20, 1, 2]), 'MALFORMED'],
    ['ATTEST trailing byte', hdr(3, [0, 1, 9, 9]), 'MALFORMED'],
    ['TOKEN truncated expiry', hdr(4, [0, 1, 2]), 'MALFORMED'],
    ['TOKEN resource over 256', hdr(4, [0, 1, 0, 0, 0, 0x01, 0x01]), 'BAD_RESOURCE'],
    ['TOKEN resource length 0', hdr(4, [0, 1, 0, 0, 0, 0, 0, 0]), 'BAD_RESOURCE'],
    ['TOKEN resource truncated', hdr(4, [0, 1, 0, 0, 0, 5, 0, 0x61]), 'MALFORMED'],
    ['TOKEN key name over 64', hdr(4, [0, 1, 0, 0, 0, 1, 0, 0x61, 65]), 'BAD_RESOURCE'],
  ];
  for (const [name, bytes, status] of badRequests) {
    it(`request: ${name} → ${status}`, () => {
      assert.throws(() => decodeRequest(bytes), (e: unknown) => e instanceof MalformedError && e.status === status);
    });
  }

  const badResponses: [string, Uint8Array][] = [
    ['INFO truncated state', hdr(0x82, [9, 0])],
    ['INFO 7 key blocks', Uint8Array.of(...encodeResponse(RESPONSES[2]).subarray(0, -1), 7)],
    ['INFO reserved flag', (() => { const b = encodeResponse(RESPONSES[2]); b[4 + 9] |= 0x80; return b; })()],
    ['ATTEST slot 6', (() => { const b = encodeResponse(RESPONSES[3]); b[4] = 6; return b; })()],
    ['ATTEST missing MAC byte', encodeResponse(RESPONSES[3]).subarray(0, -1)],
    ['ATTEST extra byte', Uint8Array.of(...encodeResponse(RESPONSES[3]), 0)],
    ['ERROR detail over 200', hdr(0x7f, [7, 0, 0, 0, 0, 0, 201, ...new Array(201).fill(0x41)])],
    ['TOKEN length past end', hdr(0x84, [10, 0, 0x41])],
    ['request type as response', hdr(0x03, [0, 16, ...new Array(16).fill(0)])],
  ];
  for (const [name, bytes] of badResponses) {
    it(`response: ${name}`, () => assert.throws(() => decodeResponse(bytes), MalformedError));
  }

  const badArgs: [string, () => unknown, ErrorConstructor][] = [
    ['frame of nothing', () => encodeFrame(new Uint8Array(0)), RangeError],
    ['frame over 1024', () => encodeFrame(new Uint8Array(1025)), RangeError],
    ['frame of a string', () => encodeFrame('x' as unknown as Uint8Array), TypeError],
    ['nonce of 15 bytes', () => encodeRequest({ type: 'attest', id: 1, slot: 0, nonce: new Uint8Array(15) }), RangeError],
    ['nonce of 65 bytes', () => encodeRequest({ type: 'attest', id: 1, slot: 0, nonce: new Uint8Array(65) }), RangeError],
    ['slot 6', () => encodeRequest({ type: 'attest', id: 1, slot: 6, nonce: new Uint8Array(16) }), RangeError],
    ['slot 1.5', () => encodeRequest({ type: 'attest', id: 1, slot: 1.5, nonce: new Uint8Array(16) }), TypeError],
    ['id 65536', () => encodeRequest({ type: 'info', id: 65536 }), RangeError],
    ['empty resource', () => encodeRequest({ type: 'token', id: 1, slot: 0, expiry: 1, resource: '', keyName: '' }), RangeError],
    ['expiry 0', () => encodeRequest({ type: 'token', id: 1, slot: 0, expiry: 0, resource: 'r', keyName: '' }), RangeError],
    ['transcript nonce of 8', () => buildTranscript({ ...STATE, slot: 0, purpose: 8, readProtected: true, writeProtected: false, deviceNonce: new Uint8Array(16) }, new Uint8Array(8)), RangeError],
    ['resource with newline', () => sasStringToSign('a\nb', 1), RangeError],
    ['token without prefix', () => parseSasToken('sr=a&sig=b&se=1'), RangeError],
    ['token with unknown field', () => parseSasToken('SharedAccessSignature sr=a&sig=b&se=1&x=2'), RangeError],
    ['token with bad expiry', () => parseSasToken('SharedAccessSignature sr=a&sig=b&se=01'), RangeError],
    ['hex with odd length', () => fromHex('abc'), RangeError],
  ];
  for (const [name, fn, type] of badArgs) {
    it(`argument: ${name} → ${type.name}`, () => assert.throws(fn, type));
  }
});

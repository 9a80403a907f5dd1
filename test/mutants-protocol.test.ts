// Edges of the portable protocol code that the mutation run found unchecked: the transcript's exact
// byte layout and field bounds (protocol/transcript.ts), percent-encoding at every character-class
// boundary and the exact limits of resources, key names and expiries (protocol/sas.ts), every refusal
// of a non-canonical token, and the spellings of a device id (protocol/deviceid.ts).
import assert from 'node:assert/strict';
import {
  ATTEST_TAG, buildTranscript, checkKeyName, checkResource, concat, crc32, encodeFrame, FrameDecoder, type FrameEvent, formatSasToken, MAX_PAYLOAD,
  MAX_TRANSCRIPT, parseSasToken, percentEncode, sasStringToSign, toBase64, toHex, utf8Decode, utf8Encode, writeTranscript,
} from '../protocol/index.js';
import { deviceIdToBytes, parseDeviceId } from '../protocol/deviceid.js';

const fields = {
  chip: 9, revision: 0x0102, deviceId: Uint8Array.of(1, 2, 3, 4, 5, 6), hmac: true, secureBoot: true, flashEncryption: false,
  firmwareId: new Uint8Array(32).fill(0xf1), firmwareVersion: 'v1', slot: 3, purpose: 8, readProtected: true, writeProtected: false,
  deviceNonce: new Uint8Array(16).fill(0xd0),
};
const nonce = new Uint8Array(16).fill(0x11);

describe('transcript: exact layout and bounds (docs/protocol.md §5)', () => {
  it('tag, version, chip, revision (LE), id, slot, purpose, flags, firmware id, version, nonces', () => {
    const t = buildTranscript(fields, nonce);
    const head = [...ATTEST_TAG, 1, 9, 0x02, 0x01, 1, 2, 3, 4, 5, 6, 3, 8];
    assert.deepEqual([...t.subarray(0, head.length)], head);
    const o = head.length + 2; // the two flag bytes (their bits are messages.ts's, checked by the vectors)
    assert.deepEqual([...t.subarray(o, o + 32)], new Array(32).fill(0xf1));
    assert.deepEqual([...t.subarray(o + 32, o + 35)], [2, 0x76, 0x31]);
    assert.deepEqual([...t.subarray(o + 35, o + 36 + 16)], [16, ...new Array(16).fill(0x11)]);
    assert.deepEqual([...t.subarray(o + 52)], new Array(16).fill(0xd0));
    assert.equal(t.length, o + 52 + 16);
    assert.equal(MAX_TRANSCRIPT, 8 + 1 + 1 + 2 + 6 + 4 + 32 + 1 + 32 + 1 + 64 + 16);
  });

  it('writeTranscript returns the length and writes nothing past it', () => {
    const out = new Uint8Array(MAX_TRANSCRIPT + 8).fill(0xee);
    const n = writeTranscript({ ...fields, firmwareVersion: 'x'.repeat(32) }, new Uint8Array(64).fill(7), out);
    assert.equal(n, MAX_TRANSCRIPT);
    assert.deepEqual([...out.subarray(n)], new Array(8).fill(0xee));
  });

  it('every field is checked at its bounds, naming it', () => {
    const ok: [string, unknown][] = [['chip', 255], ['chip', 0], ['revision', 0xffff], ['slot', 5], ['slot', 0], ['purpose', 255], ['firmwareVersion', 'é'.repeat(16)]];
    for (const [k, v] of ok) assert.ok(buildTranscript({ ...fields, [k]: v } as never, nonce), `${k}=${String(v)}`);
    const bad: [string, unknown][] = [
      ['chip', 256], ['chip', -1], ['revision', 0x10000], ['slot', 6], ['slot', -1], ['purpose', 256], ['deviceId', new Uint8Array(5)],
      ['deviceId', new Uint8Array(7)], ['firmwareId', new Uint8Array(31)], ['deviceNonce', new Uint8Array(17)], ['firmwareVersion', 'é'.repeat(16) + 'x'],
    ];
    for (const [k, v] of bad) assert.throws(() => buildTranscript({ ...fields, [k]: v } as never, nonce), new RegExp(k), `${k}=${String(v)}`);
    assert.ok(buildTranscript(fields, new Uint8Array(64)));
    assert.throws(() => buildTranscript(fields, new Uint8Array(15)), /hostNonce/);
    assert.throws(() => buildTranscript(fields, new Uint8Array(65)), /hostNonce/);
    assert.throws(() => buildTranscript({ ...fields, firmwareVersion: 'x'.repeat(33) }, nonce), /firmwareVersion must be at most 32 bytes/);
  });
});

describe('SAS: percent-encoding at every class boundary (docs/protocol.md §7.1)', () => {
  it('unreserved characters stay, everything else is %XX upper case, "*" is %2a', () => {
    const same = 'AZaz09-._~';
    assert.equal(percentEncode(same), same);
    const cases: [string, string][] = [
      ['/', '%2F'], [':', '%3A'], ['@', '%40'], ['[', '%5B'], ['`', '%60'], ['{', '%7B'], ['*', '%2a'], [' ', '%20'], ['!', '%21'],
      ["'", '%27'], ['(', '%28'], [')', '%29'], ['+', '%2B'], [',', '%2C'], ['\u007f', '%7F'], ['é', '%C3%A9'], ['\n', '%0A'], ['%', '%25'],
    ];
    for (const [c, enc] of cases) assert.equal(percentEncode(c), enc, JSON.stringify(c));
    assert.throws(() => percentEncode(5 as never), TypeError);
  });

  it('resources: 1..256 bytes of text without control characters or lone surrogates', () => {
    assert.equal(checkResource('a'.repeat(256)), 'a'.repeat(256));
    assert.equal(checkResource('é'.repeat(128)), 'é'.repeat(128));
    assert.equal(checkResource(' ~'), ' ~');
    for (const [r, re] of [['', /1\.\.256 bytes, got 0/], ['a'.repeat(257), /got 257/], ['é'.repeat(128) + 'a', /got 257/],
      ['a\u001fb', /control characters/], ['a\u007f', /control characters/], ['\ud800x', /well-formed Unicode/]] as const) {
      assert.throws(() => checkResource(r), (e: unknown) => e instanceof RangeError && re.test((e as Error).message), JSON.stringify(r));
    }
    assert.throws(() => checkResource(1), TypeError);
  });

  it('key names: up to 64 of A-Z a-z 0-9 . _ -', () => {
    assert.equal(checkKeyName(''), '');
    assert.equal(checkKeyName('aZ9._-'.padEnd(64, 'x')), 'aZ9._-'.padEnd(64, 'x'));
    for (const k of ['x'.repeat(65), 'a b', 'a&b', 'a=b', 'é', 'a/b']) {
      assert.throws(() => checkKeyName(k), (e: unknown) => e instanceof RangeError && /keyName must be at most 64 characters/.test((e as Error).message), k);
    }
    assert.throws(() => checkKeyName(null), TypeError);
  });

  it('string-to-sign and token: expiry 1..2^32-1; skn only when named', () => {
    assert.equal(utf8Decode(sasStringToSign('h/d', 1)), 'h%2Fd\n1');
    assert.equal(utf8Decode(sasStringToSign('h/d', 0xffffffff)), 'h%2Fd\n4294967295');
    for (const [e, type] of [[0, RangeError], [2 ** 32, RangeError], [1.5, TypeError]] as const) {
      assert.throws(() => sasStringToSign('h', e), (x: unknown) => x instanceof type && /expiry/.test((x as Error).message), String(e));
      assert.throws(() => formatSasToken('h', e, new Uint8Array(32)), (x: unknown) => x instanceof type && /expiry/.test((x as Error).message), String(e));
    }
    const sig = new Uint8Array(32).fill(0xfb);
    assert.equal(formatSasToken('h/d', 7, sig), `SharedAccessSignature sr=h%2Fd&sig=${percentEncode(toBase64(sig))}&se=7`);
    assert.equal(formatSasToken('h/d', 7, sig, 'k'), `SharedAccessSignature sr=h%2Fd&sig=${percentEncode(toBase64(sig))}&skn=k&se=7`);
    assert.throws(() => formatSasToken('h', 7, new Uint8Array(31)), /signature/);
    assert.throws(() => formatSasToken('h', 7, sig, 'a b'), /keyName/);
    assert.throws(() => formatSasToken('', 7, sig), /resource/);
  });
});

describe('SAS: one spelling per token (docs/protocol.md §7.2)', () => {
  const sig = new Uint8Array(32).fill(0xfb);
  const good = formatSasToken('hub/devices/d', 1234, sig, 'k');
  const sigText = percentEncode(toBase64(sig));

  it('parses the canonical form', () => {
    assert.deepEqual(parseSasToken(good), { resource: 'hub/devices/d', expiry: 1234, signature: sig, keyName: 'k' });
    assert.equal(parseSasToken(formatSasToken('hub', 4294967295, sig)).expiry, 4294967295);
    assert.equal(parseSasToken(formatSasToken('hub', 1, sig)).keyName, '');
  });

  it('refuses every other spelling, saying what differs', () => {
    const cases: [string, RegExp][] = [
      ['sharedAccessSignature sr=hub&sig=' + sigText + '&se=1', /must start with "SharedAccessSignature "/],
      [`SharedAccessSignature sr=hub&=x&sig=${sigText}&se=1`, /not key=value/],
      [`SharedAccessSignature sr=hub&sig&se=1`, /not key=value/],
      [`SharedAccessSignature sr=hub&sig=${sigText}&xx=1&se=1`, /field "xx" is not known/],
      [`SharedAccessSignature sr=hub&sig=${sigText}&${'y'.repeat(20)}=1&se=1`, new RegExp(`field "${'y'.repeat(16)}" is not known`)],
      [`SharedAccessSignature sr=hub&sr=hub&sig=${sigText}&se=1`, /field "sr" appears twice/],
      [`SharedAccessSignature sr=hub&sig=${sigText}`, /must have sr, sig and se/],
      [`SharedAccessSignature sig=${sigText}&se=1`, /must have sr, sig and se/],
      [`SharedAccessSignature sr=hub&se=1`, /must have sr, sig and se/],
      [`SharedAccessSignature sig=${sigText}&sr=hub&se=1`, /order sr, sig, skn, se/],
      [`SharedAccessSignature sr=hub&sig=${sigText}&se=1&skn=k`, /order sr, sig, skn, se/],
      [`SharedAccessSignature sr=hub&sig=${sigText}&se=0`, /expiry \(se\) must be a whole number/],
      [`SharedAccessSignature sr=hub&sig=${sigText}&se=01`, /expiry/],
      [`SharedAccessSignature sr=hub&sig=${sigText}&se=4294967296`, /expiry/],
      [`SharedAccessSignature sr=hub&sig=${sigText}&se=12345678901`, /expiry/],
      [`SharedAccessSignature sr=hub&sig=${sigText}&se=1x`, /expiry/],
      [`SharedAccessSignature sr=h/d&sig=${sigText}&se=1`, /sr is not percent-encoded in the canonical way/],
      [`SharedAccessSignature sr=h%2fd&sig=${sigText}&se=1`, /sr is not percent-encoded/],
      [`SharedAccessSignature sr=h%2&sig=${sigText}&se=1`, /sr has a "%" not followed by two hex digits/],
      [`SharedAccessSignature sr=h%zzd&sig=${sigText}&se=1`, /sr has a "%"/],
      [`SharedAccessSignature sr=hé&sig=${sigText}&se=1`, /sr has a character that is not percent-encoded/],
      [`SharedAccessSignature sr=hub&sig=${percentEncode(toBase64(new Uint8Array(31)))}&se=1`, /signature must be 32 bytes/],
      [`SharedAccessSignature sr=hub&sig=${toBase64(sig)}&se=1`, /sig is not the canonical encoding/],
      [`SharedAccessSignature sr=hub&sig=${sigText}&skn=&se=1`, /skn must not be empty/],
      [`SharedAccessSignature sr=hub&sig=${sigText}&skn=a%20b&se=1`, /keyName/],
    ];
    for (const [t, re] of cases) assert.throws(() => parseSasToken(t), (e: unknown) => e instanceof RangeError && re.test((e as Error).message), t);
    assert.throws(() => parseSasToken(5 as never), TypeError);
  });

  it('a percent-decoded sr with bytes that are not UTF-8 is refused', () => {
    assert.throws(() => parseSasToken(`SharedAccessSignature sr=%C3&sig=${sigText}&se=1`), RangeError);
    assert.equal(parseSasToken(`SharedAccessSignature sr=%C3%A9&sig=${sigText}&se=1`).resource, 'é');
  });
});

describe('device ids: every spelling, and only those', () => {
  it('accepts bytes and 12 hex digits with one separator throughout, or none', () => {
    for (const s of ['7cdfa10000aa', '7CDFA10000AA', '7c:df:a1:00:00:aa', '7C-DF-A1-00-00-AA', '7c:DF:a1:00:00:AA']) assert.equal(parseDeviceId(s), '7cdfa10000aa', s);
    assert.equal(parseDeviceId(Uint8Array.of(0x7c, 0xdf, 0xa1, 0, 0, 0xaa)), '7cdfa10000aa');
    assert.deepEqual(deviceIdToBytes('7c:df:a1:00:00:aa'), Uint8Array.of(0x7c, 0xdf, 0xa1, 0, 0, 0xaa));
    const b = Uint8Array.of(1, 2, 3, 4, 5, 6);
    assert.equal(deviceIdToBytes(b), b);
  });

  it('refuses others, naming the argument; long input is shown cut', () => {
    for (const s of ['7c:df-a1:00:00:aa', '7c:dfa1:00:00:aa', '7cdfa10000a', '7cdfa10000aaa', '7c:df:a1:00:00:aa:', ':7c:df:a1:00:00:aa', '7cdfa10000ag', '7c df a1 00 00 aa', '']) {
      assert.throws(() => parseDeviceId(s, 'id'), (e: unknown) => e instanceof RangeError && e.message === `id must be 12 hex digits (a MAC such as 7c:df:a1:00:00:aa), got "${s}"`, s);
    }
    const long = 'a'.repeat(41);
    assert.throws(() => parseDeviceId(long), (e: unknown) => e instanceof RangeError && (e as Error).message.endsWith(`got "${'a'.repeat(40)}…"`));
    assert.throws(() => parseDeviceId('a'.repeat(40)), (e: unknown) => (e as Error).message.endsWith(`got "${'a'.repeat(40)}"`));
    assert.throws(() => parseDeviceId(5, 'x'), (e: unknown) => e instanceof TypeError && (e as Error).message === 'x must be a string of 12 hex digits or 6 bytes');
    assert.throws(() => parseDeviceId(new Uint8Array(5), 'x'), (e: unknown) => e instanceof RangeError && /x/.test((e as Error).message));
    assert.throws(() => deviceIdToBytes(new Uint8Array(7), 'y'), /y/);
    assert.throws(() => deviceIdToBytes('zz', 'y'), /^RangeError: y must be 12 hex digits/);
  });
});

describe('protocol refusals name their argument', () => {
  it('the default names of each checker', () => {
    assert.throws(() => parseDeviceId('zz'), /^RangeError: deviceId must be 12 hex digits/);
    assert.throws(() => deviceIdToBytes(5), /^TypeError: deviceId must be a string/);
    assert.throws(() => percentEncode(5 as never), /^TypeError: text/);
    assert.throws(() => checkResource(1), /^TypeError: resource/);
    assert.throws(() => checkKeyName(null), /^TypeError: keyName/);
    assert.throws(() => parseSasToken(5 as never), /^TypeError: token/);
  });

  it('token parts: U+0080 is a character that is not percent-encoded; sig errors name sig and the signature', () => {
    const sigText = percentEncode(toBase64(new Uint8Array(32)));
    assert.throws(() => parseSasToken(`SharedAccessSignature sr=h\u0080&sig=${sigText}&se=1`), /sr has a character that is not percent-encoded/);
    assert.throws(() => parseSasToken('SharedAccessSignature sr=h&sig=%zz&se=1'), /token sig has a "%" not followed by two hex digits/);
    assert.throws(() => parseSasToken('SharedAccessSignature sr=h&sig=!!!!&se=1'), /token signature/);
  });
});

/** An event as one string: the frame's payload in hex, the log's text, the error's reason and detail. */
const show = (e: FrameEvent): string => (e.type === 'frame' ? `frame ${toHex(e.payload)}` : e.type === 'log' ? `log ${e.text}` : `${e.reason} ${e.detail}`);

/**
 * §2 read literally over the whole input at once, every candidate's CRC computed over its body, and
 * the input ending with an idle flush: the events, as `show` writes them.
 */
function literalFraming(input: Uint8Array): string[] {
  const out: string[] = [];
  let line: number[] = [];
  const endLine = () => { if (line.length > 0) { out.push(`log ${utf8Decode(Uint8Array.from(line))}`); line = []; } };
  const text = (c: number) => { if (c === 0x0a) endLine(); else if (c !== 0x0d) { line.push(c); if (line.length === 256) endLine(); } };
  const truncated = (left: number) => out.push(`truncated incomplete frame abandoned after ${left} bytes`);
  let i = 0;
  while (i < input.length) {
    const left = input.length - i;
    if (input[i] !== 0xa5) { text(input[i++]!); continue; }
    if (left < 6) { if (left < 2 || input[i + 1] === 0x5a) truncated(left); text(input[i++]!); continue; }
    const n = input[i + 2]! | (input[i + 3]! << 8);
    if (input[i + 1] !== 0x5a || (n ^ (input[i + 4]! | (input[i + 5]! << 8))) !== 0xffff || n === 0) { text(input[i++]!); continue; }
    if (n > MAX_PAYLOAD) { out.push(`oversize frame length ${n} exceeds 1024`); text(input[i++]!); continue; }
    if (left < 10 + n) { truncated(left); text(input[i++]!); continue; }
    const body = input.subarray(i + 6, i + 6 + n);
    const want = (input[i + 6 + n]! | (input[i + 7 + n]! << 8) | (input[i + 8 + n]! << 16) | (input[i + 9 + n]! << 24)) >>> 0;
    if (crc32(body) !== want) { out.push(`crc CRC mismatch in a ${n}-byte frame`); text(input[i++]!); continue; }
    endLine();
    out.push(`frame ${toHex(body)}`);
    i += 10 + n;
  }
  endLine();
  return out;
}

/** A header claiming `n` payload bytes. */
const header = (n: number) => Uint8Array.of(0xa5, 0x5a, n & 0xff, n >> 8, ~n & 0xff, (~n >> 8) & 0xff);
/** `A5 5A 00 04 FF FB` (a header claiming 1024 bytes) `count` times. */
const headerRun = (count: number) => concat(...Array.from({ length: count }, () => header(1024)));
const filled = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, k) => (k * 31 + seed) & 0xff);
const withBadCrc = (payload: Uint8Array) => { const f = encodeFrame(payload); f[f.length - 2] ^= 0x40; return f; };

/**
 * Input for the decoder's bookkeeping: frames of 1..1024 bytes, frames and text straddling any push
 * boundary, header runs longer than the buffer (so candidates' running CRCs survive the buffer being
 * compacted, and a good frame is checked from registers computed for the candidates before it), a
 * good frame inside a broken one, bad CRCs, a bad complement, LEN 0, oversize, long lines, CRs, and a
 * frame cut at the end.
 */
function bookkeepingInput(): Uint8Array {
  return concat(
    utf8Encode('ESP-ROM:esp32s3\r\nI (12) boot: é\n'),
    encodeFrame(Uint8Array.of(0x42)),
    encodeFrame(filled(300, 1)),
    utf8Encode('x'.repeat(600) + '\n'),
    encodeFrame(new Uint8Array(MAX_PAYLOAD).fill(0xa5)),
    headerRun(260),
    encodeFrame(filled(700, 2)),
    withBadCrc(filled(90, 3)),
    Uint8Array.of(0xa5, 0x5a, 0x05, 0x00, 0xfa, 0xfe), // complement off by one bit
    header(0), Uint8Array.of(0, 0, 0, 0),
    header(5000), utf8Encode('after oversize\n'),
    header(200), encodeFrame(filled(40, 4)), filled(100, 5), // a good frame inside a broken one
    Uint8Array.of(0xa5, 0x41, 0xa5, 0xa5, 0x5a, 0x0d, 0x0a),
    headerRun(3), encodeFrame(filled(1024, 6)),
    utf8Encode('tail text'),
    encodeFrame(filled(64, 7)).subarray(0, 50),
  );
}

describe('frame decoder: events and counts in any chunking (protocol/frame.ts)', () => {
  const input = bookkeepingInput();
  const want = literalFraming(input);

  it('the input exercises every kind of event', () => {
    const kinds = new Set(want.map((w) => w.split(' ')[0]));
    assert.deepEqual([...kinds].sort(), ['crc', 'frame', 'log', 'oversize', 'truncated']);
    assert.equal(want.filter((w) => w.startsWith('frame ')).length, 6);
  });

  it('gives the literal reading\'s events, with their details, whatever the push sizes', () => {
    for (const size of [input.length, 1, 2, 3, 5, 6, 7, 10, 255, 256, 257, 1033, 1034, 1035, 1289, 1290, 1291, 2500]) {
      const d = new FrameDecoder();
      const got: string[] = [];
      for (let k = 0; k < input.length; k += size) got.push(...d.push(input.subarray(k, k + size)).map(show));
      assert.equal(d.pending > 0, true, `${size}: the cut frame is pending`);
      got.push(...d.flush().map(show));
      assert.deepEqual(got, want, `pushes of ${size}`);
      const count = (p: string) => want.filter((w) => w.startsWith(p)).length;
      assert.deepEqual({ ...d.stats, work: 0 }, {
        frames: count('frame '), crcErrors: count('crc '), oversize: count('oversize '), truncated: count('truncated '), logLines: count('log '),
        bytes: input.length, work: 0,
      }, `stats, pushes of ${size}`);
    }
  });
});

describe('frame decoder: its count of work, step by step (protocol/frame.ts, docs/protocol.md §2.1)', () => {
  /** The decoder's work after pushing each chunk in turn, then after an idle flush. */
  const workAfter = (...chunks: Uint8Array[]): number[] => {
    const d = new FrameDecoder();
    const out = chunks.map((c) => { d.push(c); return d.stats.work; });
    d.flush();
    return [...out, d.stats.work];
  };
  const f10 = encodeFrame(filled(10, 1));
  const f20 = encodeFrame(filled(20, 2));

  it('one scan step per event position, one CRC step per payload byte, nothing moved when all is consumed', () => {
    assert.deepEqual(workAfter(f10), [1 + 10, 11]);
    assert.deepEqual(workAfter(concat(utf8Encode('ab'), f10)), [3 + 10, 13]);
    // A second frame's CRC starts afresh at its own payload, not from the first one's registers.
    assert.deepEqual(workAfter(concat(f10, f20)), [2 + 10 + 20, 32]);
    assert.deepEqual(workAfter(concat(f10, utf8Encode('xyz'), f20)), [5 + 10 + 20, 35]);
  });

  it('a frame in progress costs a step per push, and the bytes before it are moved once', () => {
    // 'abc' and the first 8 bytes of a frame: 4 steps, then the 8 pending bytes are moved to the front.
    assert.deepEqual(workAfter(concat(utf8Encode('abc'), f10.subarray(0, 8)), f10.subarray(8)), [4 + 8, 12 + 1 + 10, 23]);
    assert.deepEqual(workAfter(f10.subarray(0, 3), f10.subarray(3, 12), f10.subarray(12)), [1, 2, 3 + 10, 13]);
  });

  it('a header run: each candidate extends the running CRC by what the previous one did not cover', () => {
    // Two headers claiming 1024 bytes, then 1030 bytes of zeros: both candidates are complete and fail
    // their CRC; the first runs 1024 bytes through the CRC, the second only the 6 bytes past them.
    const input = concat(header(1024), header(1024), new Uint8Array(1030));
    const d = new FrameDecoder();
    const ev = d.push(input);
    assert.deepEqual(ev.map(show).slice(0, 2), ['crc CRC mismatch in a 1024-byte frame', 'crc CRC mismatch in a 1024-byte frame']);
    assert.equal(d.stats.crcErrors, 2);
    // Scan: 2 × 6 header bytes (the candidates and the text after them) + 1030 zeros, one step each.
    assert.equal(d.stats.work, 12 + 1030 + 1024 + 6);
  });

  it('a good frame inside a broken candidate is checked from the registers already run, at no CRC cost', () => {
    // header(200), then a 40-byte frame and 154 zeros: the candidate's CRC runs 200 bytes and fails;
    // the frame's payload lies inside them, so its check runs none.
    const d = new FrameDecoder();
    const ev = d.push(concat(header(200), encodeFrame(filled(40, 4)), new Uint8Array(154)));
    assert.deepEqual(ev.map(show), ['crc CRC mismatch in a 200-byte frame', `log ${utf8Decode(header(200))}`, `frame ${toHex(filled(40, 4))}`]);
    // Scan: the candidate, 5 header bytes as text, the frame, 154 zeros.
    assert.equal(d.stats.work, 1 + 5 + 1 + 154 + 200);
  });

  it('the running CRC registers of a candidate still in progress are kept when the buffer is compacted', () => {
    // Push 1: header(100) twice and 98 zeros. The first candidate is complete (CRC 100 bytes, fails,
    // 6 bytes of text); the second is not, so its 104 bytes are moved to the front, registers with them.
    // Push 2: 6 zeros complete it; its CRC runs only those 6 bytes; then 104 bytes of text.
    assert.deepEqual(workAfter(concat(header(100), header(100), new Uint8Array(98)), new Uint8Array(6)), [7 + 100 + 104, 211 + 110 + 6, 327]);
  });
});

describe('frame decoder: what each push and flush gives (protocol/frame.ts)', () => {
  it('names its arguments', () => {
    assert.throws(() => encodeFrame('x' as never), (e: unknown) => e instanceof TypeError && e.message === 'payload must be a Uint8Array');
    assert.throws(() => encodeFrame(new Uint8Array(0)), (e: unknown) => e instanceof RangeError && e.message === 'payload must be 1..1024 bytes, got 0');
    assert.throws(() => new FrameDecoder().push([1] as never), (e: unknown) => e instanceof TypeError && e.message === 'chunk must be a Uint8Array');
  });

  it('an oversize header is reported by the push that completes the header, without waiting for a body', () => {
    const d = new FrameDecoder();
    assert.deepEqual(d.push(header(1025)).map(show), ['oversize frame length 1025 exceeds 1024']);
    assert.equal(d.pending, 0);
    assert.deepEqual(d.flush().map(show), [`log ${utf8Decode(header(1025))}`]);
  });

  it('a lone SYNC0 waits for the next byte; SYNC0 and anything but SYNC1 is text at once', () => {
    const d = new FrameDecoder();
    assert.deepEqual(d.push(Uint8Array.of(0x41, 0xa5)), []);
    assert.equal(d.pending, 1);
    assert.deepEqual(d.push(Uint8Array.of(0x42)), []);
    assert.equal(d.pending, 0, 'A5 42 is text');
    assert.deepEqual(d.push(utf8Encode('x\n')).map(show), ['log A\ufffdBx']);
    assert.deepEqual(d.push(Uint8Array.of(0x43, 0x44, 0x45, 0xa5, 0x5a)), []);
    assert.equal(d.pending, 2);
    assert.deepEqual(d.push(Uint8Array.of(0x00)), []);
    assert.equal(d.pending, 3);
  });

  it('flush: a short or a complete header with no body is truncated, an invalid header is text', () => {
    const flushed = (...bytes: number[]) => { const d = new FrameDecoder(); const a = d.push(Uint8Array.from(bytes)); return [...a, ...d.flush()].map(show); };
    assert.deepEqual(flushed(0xa5), ['truncated incomplete frame abandoned after 1 bytes', 'log \ufffd']);
    assert.deepEqual(flushed(0x31, 0xa5, 0x5a, 0x00), ['truncated incomplete frame abandoned after 3 bytes', 'log 1\ufffdZ\u0000']);
    assert.deepEqual(flushed(0xa5, 0x41), ['log \ufffdA']);
    assert.deepEqual(flushed(0xa5, 0x5a, 0x00, 0x00, 0xff, 0xff), [`log ${utf8Decode(header(0))}`]);
    assert.deepEqual(flushed(0xa5, 0x5a, 0x05, 0x00, 0xfa, 0xfe), [`log ${utf8Decode(Uint8Array.of(0xa5, 0x5a, 0x05, 0x00, 0xfa, 0xfe))}`]);
    assert.deepEqual(flushed(...header(5)), ['truncated incomplete frame abandoned after 6 bytes', `log ${utf8Decode(header(5))}`]);
    assert.deepEqual(flushed(...header(5000)), ['oversize frame length 5000 exceeds 1024', `log ${utf8Decode(header(5000))}`]);
    // LEN 0 is never a frame, even followed by the CRC of nothing.
    assert.deepEqual(flushed(...header(0), 0, 0, 0, 0, 0x0a), [`log ${utf8Decode(concat(header(0), new Uint8Array(4)))}`]);
  });

  it('empty lines give no events; a frame ends the line before it', () => {
    const d = new FrameDecoder();
    assert.deepEqual(d.push(utf8Encode('\n\r\n\n')), []);
    assert.deepEqual(d.push(concat(encodeFrame(Uint8Array.of(1)), utf8Encode('ab'), encodeFrame(Uint8Array.of(2)))).map(show), ['frame 01', 'log ab', 'frame 02']);
    assert.deepEqual(d.flush(), []);
    assert.equal(d.stats.logLines, 1);
  });

  it('reset drops the partial frame, the partial line and the running registers', () => {
    const d = new FrameDecoder();
    assert.deepEqual(d.push(concat(utf8Encode('abc'), header(100), header(100), new Uint8Array(98))).map(show), ['crc CRC mismatch in a 100-byte frame']);
    assert.equal(d.pending, 104);
    d.reset();
    assert.equal(d.pending, 0);
    const work = d.stats.work;
    const f = encodeFrame(filled(10, 9));
    assert.deepEqual(d.push(f).map(show), [`frame ${toHex(filled(10, 9))}`], 'no text or candidate from before the reset');
    assert.equal(d.stats.work - work, 11, 'the frame\'s CRC starts afresh');
    assert.deepEqual(d.flush(), []);
  });
});

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
import {
  type AttestResponse, decodeHeader, decodeRequest, decodeResponse, type DeviceInfo, type DeviceState, encodeRequest, encodeResponse, keyFlags,
  securityFlags,
} from '../protocol/messages.js';
import { abytes, aint, astring, equalBytes, fromBase64, fromHex, MalformedError, Reader, Writer } from '../protocol/bytes.js';
import { CRC_SLICE_MAX, crc32Slice } from '../protocol/crc32.js';
import { crc32Fill, crc32Table, crc32Update } from '../protocol/crc32-loop.js';
import { ESP_ERR, espErrName, Status, STATUS_TEXT, statusName } from '../protocol/status.js';

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

  it('the firmware version: ASCII and non-ASCII text, each as its UTF-8 bytes after their count', () => {
    const version = (v: string) => { const t = buildTranscript({ ...fields, firmwareVersion: v }, nonce); return [...t.subarray(54, t.length - 33)]; };
    assert.deepEqual(version(''), [0]);
    assert.deepEqual(version('v1\u007f'), [3, 0x76, 0x31, 0x7f]);
    assert.deepEqual(version('vé'), [3, 0x76, 0xc3, 0xa9]);
    assert.deepEqual(version('é1'), [3, 0xc3, 0xa9, 0x31]);
    assert.deepEqual(version('\u0080'), [2, 0xc2, 0x80]);
    assert.deepEqual(version('x'.repeat(32)), [32, ...new Array(32).fill(0x78)]);
    assert.deepEqual(version('é'.repeat(16)), [32, ...new Array(16).fill([0xc3, 0xa9]).flat()]);
    const out = new Uint8Array(MAX_TRANSCRIPT).fill(0xee);
    const n = writeTranscript({ ...fields, firmwareVersion: 'aé' }, nonce, out);
    assert.deepEqual([...out.subarray(54, n)], [3, 0x61, 0xc3, 0xa9, 16, ...new Array(16).fill(0x11), ...new Array(16).fill(0xd0)]);
    assert.throws(() => buildTranscript({ ...fields, firmwareVersion: 5 as never }, nonce), (e: unknown) => e instanceof TypeError && (e as Error).message === 'firmwareVersion must be a string, got number');
    assert.throws(() => buildTranscript({ ...fields, firmwareVersion: 'x'.repeat(31) + 'é' }, nonce), /^RangeError: firmwareVersion must be at most 32 bytes$/);
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
    // Each short candidate in turn, its size counted from its own SYNC.
    assert.deepEqual(flushed(0xa5, 0x5a, 0x00, 0xa5, 0x5a), ['truncated incomplete frame abandoned after 5 bytes',
      'truncated incomplete frame abandoned after 2 bytes', 'log \ufffdZ\u0000\ufffdZ']);
    assert.deepEqual(flushed(...header(3), 0xa5, ...header(2).subarray(1)).slice(0, 2), ['truncated incomplete frame abandoned after 12 bytes',
      'truncated incomplete frame abandoned after 6 bytes']);
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

/** Asserts that `fn` throws MalformedError with exactly this message and status. */
function malformed(fn: () => unknown, message: string, status = 'MALFORMED'): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof MalformedError, String(e));
    assert.equal(e.name, 'MalformedError');
    assert.equal(e.message, message);
    assert.equal(e.status, status);
    return true;
  }, message);
}

/** Asserts that `fn` throws an error of exactly this type and message. */
function refused(fn: () => unknown, type: ErrorConstructor, message: string): void {
  assert.throws(fn, (e: unknown) => e instanceof type && (e as Error).constructor === type && (e as Error).message === message, message);
}

describe('message codec: layouts, bounds and every refusal with its message (protocol/messages.ts)', () => {
  const state = {
    chip: 9, revision: 0x0201, deviceId: Uint8Array.of(1, 2, 3, 4, 5, 6), hmac: true, secureBoot: false, flashEncryption: true,
    firmwareId: new Uint8Array(32).fill(7), firmwareVersion: 'v9',
  };
  const attestation = { ...state, slot: 5, purpose: 8, readProtected: false, writeProtected: true, deviceNonce: new Uint8Array(16).fill(3), mac: new Uint8Array(32).fill(4) };
  const msg = (version: number, type: number, ...body: number[]) => Uint8Array.of(version, type, 0x34, 0x12, ...body);

  it('request layouts, byte for byte', () => {
    assert.deepEqual([...encodeRequest({ type: 'info', id: 0x1234 })], [1, 2, 0x34, 0x12]);
    assert.deepEqual([...encodeRequest({ type: 'ping', id: 0, data: Uint8Array.of(9, 8) })], [1, 1, 0, 0, 9, 8]);
    assert.deepEqual([...encodeRequest({ type: 'attest', id: 0xffff, slot: 5, nonce: new Uint8Array(16).fill(1) })], [1, 3, 0xff, 0xff, 5, 16, ...new Array(16).fill(1)]);
    assert.deepEqual([...encodeRequest({ type: 'token', id: 2, slot: 1, expiry: 0xfedcba98, resource: 'h/é', keyName: 'k1' })],
      [1, 4, 2, 0, 1, 0x98, 0xba, 0xdc, 0xfe, 4, 0, 0x68, 0x2f, 0xc3, 0xa9, 2, 0x6b, 0x31]);
    assert.deepEqual(decodeHeader(Uint8Array.of(7, 0x83, 0xcd, 0xab)), { version: 7, type: 0x83, id: 0xabcd });
    assert.deepEqual(decodeRequest(Uint8Array.of(1, 4, 2, 0, 1, 0x98, 0xba, 0xdc, 0xfe, 1, 0, 0x61, 0)),
      { type: 'token', id: 2, slot: 1, expiry: 0xfedcba98, resource: 'a', keyName: '' });
  });

  it('request bounds: 64 bytes of ping data, 1..256 resource bytes, 64 key-name bytes', () => {
    assert.equal((decodeRequest(msg(1, 1, ...new Array(64).fill(5))) as { data: Uint8Array }).data.length, 64);
    const token = (n: number, k: number) => msg(1, 4, 0, 1, 0, 0, 0, n & 0xff, n >> 8, ...new Array(n).fill(0x61), k, ...new Array(k).fill(0x62));
    const t = decodeRequest(token(256, 64)) as { resource: string; keyName: string };
    assert.equal(t.resource, 'a'.repeat(256));
    assert.equal(t.keyName, 'b'.repeat(64));
    const r = encodeRequest({ type: 'token', id: 1, slot: 0, expiry: 1, resource: 'é'.repeat(128), keyName: 'é'.repeat(32) });
    assert.equal(r.length, 4 + 1 + 4 + 2 + 256 + 1 + 64);
    assert.equal(encodeRequest({ type: 'attest', id: 1, slot: 0, nonce: new Uint8Array(64) }).length, 4 + 2 + 64);
    assert.equal(encodeRequest({ type: 'ping', id: 1, data: new Uint8Array(64) }).length, 4 + 64);
  });

  it('request decoding refusals', () => {
    refused(() => decodeRequest('x' as never), TypeError, 'payload must be a Uint8Array');
    malformed(() => decodeRequest(Uint8Array.of(1, 2, 3)), 'message is 3 bytes, shorter than its 4-byte header');
    malformed(() => decodeRequest(msg(2, 2)), 'protocol version 2 is not supported (want 1)', 'BAD_VERSION');
    malformed(() => decodeRequest(msg(1, 0x33)), 'message type 0x33 is not a request', 'UNKNOWN_TYPE');
    malformed(() => decodeRequest(msg(1, 0x82)), 'message type 0x82 is not a request', 'UNKNOWN_TYPE');
    malformed(() => decodeRequest(msg(1, 2, 0, 0)), '2 trailing bytes after request');
    malformed(() => decodeRequest(msg(1, 1, ...new Array(65).fill(0))), 'ping data is 65 bytes, more than 64');
    malformed(() => decodeRequest(msg(1, 3)), 'truncated slot');
    malformed(() => decodeRequest(msg(1, 3, 0)), 'truncated nonce length');
    malformed(() => decodeRequest(msg(1, 3, 0, 20, 1, 2)), 'truncated nonce');
    malformed(() => decodeRequest(msg(1, 4)), 'truncated slot');
    malformed(() => decodeRequest(msg(1, 4, 0, 1, 2, 3)), 'truncated expiry');
    malformed(() => decodeRequest(msg(1, 4, 0, 1, 0, 0, 0, 1)), 'truncated resource length');
    malformed(() => decodeRequest(msg(1, 4, 0, 1, 0, 0, 0, 1, 1)), 'resource must be 1..256 bytes, got 257', 'BAD_RESOURCE');
    malformed(() => decodeRequest(msg(1, 4, 0, 1, 0, 0, 0, 0, 0)), 'resource must be 1..256 bytes, got 0', 'BAD_RESOURCE');
    malformed(() => decodeRequest(msg(1, 4, 0, 1, 0, 0, 0, 2, 0, 0x61)), 'truncated resource');
    malformed(() => decodeRequest(msg(1, 4, 0, 1, 0, 0, 0, 1, 0, 0x61)), 'truncated key name length');
    malformed(() => decodeRequest(msg(1, 4, 0, 1, 0, 0, 0, 1, 0, 0x61, 65, ...new Array(65).fill(0x62))), 'key name must be at most 64 bytes, got 65', 'BAD_RESOURCE');
    malformed(() => decodeRequest(msg(1, 4, 0, 1, 0, 0, 0, 1, 0, 0x61, 2, 0x62)), 'truncated key name');
  });

  it('request encoding refusals, naming the field', () => {
    refused(() => encodeRequest({ type: 'nope', id: 1 } as never), TypeError, 'request type must be one of ping, info, attest, token');
    refused(() => encodeRequest({ type: 'info', id: 0x10000 }), RangeError, 'id must be 0..65535, got 65536');
    refused(() => encodeRequest({ type: 'info', id: -1 }), RangeError, 'id must be 0..65535, got -1');
    refused(() => encodeRequest({ type: 'info', id: 1.5 }), TypeError, 'id must be an integer');
    refused(() => encodeRequest({ type: 'ping', id: 1, data: new Uint8Array(65) }), RangeError, 'data must be 0..64 bytes, got 65');
    refused(() => encodeRequest({ type: 'attest', id: 1, slot: 6, nonce: new Uint8Array(16) }), RangeError, 'slot must be 0..5, got 6');
    refused(() => encodeRequest({ type: 'attest', id: 1, slot: 0, nonce: new Uint8Array(65) }), RangeError, 'nonce must be 16..64 bytes, got 65');
    const token = { type: 'token' as const, id: 1, slot: 1, expiry: 1, resource: 'r', keyName: '' };
    refused(() => encodeRequest({ ...token, slot: -1 }), RangeError, 'slot must be 0..5, got -1');
    refused(() => encodeRequest({ ...token, expiry: 0 }), RangeError, 'expiry must be 1..4294967295, got 0');
    refused(() => encodeRequest({ ...token, expiry: 2 ** 32 }), RangeError, 'expiry must be 1..4294967295, got 4294967296');
    refused(() => encodeRequest({ ...token, resource: '' }), RangeError, 'resource must be 1..256 bytes');
    refused(() => encodeRequest({ ...token, resource: 'é'.repeat(128) + 'a' }), RangeError, 'resource must be 1..256 bytes');
    refused(() => encodeRequest({ ...token, resource: 5 as never }), TypeError, 'resource must be a string, got number');
    refused(() => encodeRequest({ ...token, keyName: 'é'.repeat(32) + 'a' }), RangeError, 'keyName must be at most 64 bytes');
    refused(() => encodeRequest({ ...token, keyName: null as never }), TypeError, 'keyName must be a string, got null');
  });

  it('response layouts, byte for byte, and the flag bits', () => {
    const head = [9, 0x01, 0x02, 1, 2, 3, 4, 5, 6, 0b101, ...new Array(32).fill(7), 2, 0x76, 0x39];
    const info = encodeResponse({ type: 'info', id: 0x1234, info: { ...state, keys: [
      { purpose: 8, readProtected: true, writeProtected: false, unused: false }, { purpose: 0, readProtected: false, writeProtected: true, unused: true }] } });
    assert.deepEqual([...info], [1, 0x82, 0x34, 0x12, ...head, 2, 8, 0b001, 0, 0b110]);
    const at = encodeResponse({ type: 'attest', id: 3, attestation });
    assert.deepEqual([...at], [1, 0x83, 3, 0, 5, 8, 0b010, ...head, ...new Array(16).fill(3), ...new Array(32).fill(4)]);
    assert.deepEqual(decodeResponse(at), { type: 'attest', id: 3, attestation });
    assert.deepEqual([...encodeResponse({ type: 'token', id: 1, token: 'sé' })], [1, 0x84, 1, 0, 3, 0, 0x73, 0xc3, 0xa9]);
    assert.deepEqual([...encodeResponse({ type: 'error', id: 1, status: 0x0a0b, espErr: -2, detail: 'd' })], [1, 0x7f, 1, 0, 0x0b, 0x0a, 0xfe, 0xff, 0xff, 0xff, 1, 0x64]);
    assert.deepEqual([...encodeResponse({ type: 'ping', id: 1, data: Uint8Array.of(5) })], [1, 0x81, 1, 0, 5]);
    assert.equal(securityFlags({ hmac: true, secureBoot: false, flashEncryption: false }), 1);
    assert.equal(securityFlags({ hmac: false, secureBoot: true, flashEncryption: false }), 2);
    assert.equal(securityFlags({ hmac: false, secureBoot: false, flashEncryption: true }), 4);
    assert.equal(keyFlags({ readProtected: true, writeProtected: false }), 1);
    assert.equal(keyFlags({ readProtected: false, writeProtected: true }), 2);
    assert.equal(keyFlags({ readProtected: false, writeProtected: false, unused: true }), 4);
    for (let f = 0; f < 8; f++) {
      const b = Uint8Array.from(info);
      b[4 + 9] = f;
      const s = (decodeResponse(b) as { info: DeviceState }).info;
      assert.deepEqual([s.hmac, s.secureBoot, s.flashEncryption], [(f & 1) !== 0, (f & 2) !== 0, (f & 4) !== 0], `security flags ${f}`);
      b[b.length - 1] = f;
      const k = (decodeResponse(b) as { info: DeviceInfo }).info.keys[1]!;
      assert.deepEqual([k.readProtected, k.writeProtected, k.unused], [(f & 1) !== 0, (f & 2) !== 0, (f & 4) !== 0], `key flags ${f}`);
    }
    const a = Uint8Array.from(at);
    for (let f = 0; f < 8; f++) {
      a[6] = f;
      const x = (decodeResponse(a) as { attestation: AttestResponse }).attestation;
      assert.deepEqual([x.readProtected, x.writeProtected], [(f & 1) !== 0, (f & 2) !== 0], `attest key flags ${f}`);
    }
  });

  it('response bounds: 6 key blocks, slot 5, 1013-byte tokens, 200-byte details (longer ones cut)', () => {
    const keys = Array.from({ length: 6 }, (_, i) => ({ purpose: i, readProtected: false, writeProtected: false, unused: false }));
    const info = { type: 'info' as const, id: 1, info: { ...state, keys } };
    assert.deepEqual(decodeResponse(encodeResponse(info)), info);
    assert.deepEqual(decodeResponse(encodeResponse({ type: 'token', id: 1, token: 't'.repeat(1013) })), { type: 'token', id: 1, token: 't'.repeat(1013) });
    const e = encodeResponse({ type: 'error', id: 1, status: 0xffff, espErr: -0x80000000, detail: 'é'.repeat(150) });
    assert.equal(e.length, 4 + 2 + 4 + 1 + 200);
    assert.deepEqual(decodeResponse(e), { type: 'error', id: 1, status: 0xffff, espErr: -0x80000000, detail: 'é'.repeat(100) });
    assert.equal((decodeResponse(encodeResponse({ type: 'error', id: 1, status: 0, espErr: 0x7fffffff, detail: 'x'.repeat(200) })) as { detail: string }).detail, 'x'.repeat(200));
    assert.deepEqual(decodeResponse(encodeResponse({ type: 'ping', id: 1, data: new Uint8Array(64) })), { type: 'ping', id: 1, data: new Uint8Array(64) });
    assert.equal(encodeResponse({ type: 'info', id: 1, info: { ...state, firmwareVersion: 'é'.repeat(16), keys: [] } }).length, 4 + 1 + 2 + 6 + 1 + 32 + 1 + 32 + 1);
  });

  it('response decoding refusals, each truncation naming its field', () => {
    const info = encodeResponse({ type: 'info', id: 1, info: { ...state, keys: [{ purpose: 8, readProtected: true, writeProtected: false, unused: false }] } });
    const fields = [[1, 'chip'], [2, 'revision'], [6, 'device id'], [1, 'security flags'], [32, 'firmware id'], [1, 'firmware version length'],
      [2, 'firmware version'], [1, 'key block count'], [1, 'key purpose'], [1, 'key flags']] as const;
    let o = 4;
    for (const [size, what] of fields) {
      for (let k = o; k < o + size; k++) malformed(() => decodeResponse(info.subarray(0, k)), `truncated ${what}`);
      o += size;
    }
    assert.equal(o, info.length);
    const at = encodeResponse({ type: 'attest', id: 1, attestation });
    malformed(() => decodeResponse(at.subarray(0, 4)), 'truncated slot');
    malformed(() => decodeResponse(at.subarray(0, 5)), 'truncated key purpose');
    malformed(() => decodeResponse(at.subarray(0, 6)), 'truncated key flags');
    malformed(() => decodeResponse(at.subarray(0, 7)), 'truncated chip');
    malformed(() => decodeResponse(at.subarray(0, at.length - 48)), 'truncated device nonce');
    malformed(() => decodeResponse(at.subarray(0, at.length - 1)), 'truncated mac');
    malformed(() => decodeResponse(Uint8Array.of(...at, 0, 0)), '2 trailing bytes after response');
    const bad = (b: Uint8Array, at: number, v: number) => { const c = Uint8Array.from(b); c[at] = v; return c; };
    malformed(() => decodeResponse(bad(at, 4, 6)), 'slot 6 is outside 0..5');
    malformed(() => decodeResponse(bad(at, 6, 8)), 'reserved key flags bits set: 0x8');
    malformed(() => decodeResponse(bad(info, 4 + 9, 0x85)), 'reserved security flag bits set: 0x85');
    malformed(() => decodeResponse(bad(info, info.length - 1, 0x10)), 'reserved key flags bits set: 0x10');
    malformed(() => decodeResponse(bad(info, 4 + 42, 33)), 'firmware version length 33 is outside 0..32');
    malformed(() => decodeResponse(Uint8Array.of(...info.subarray(0, info.length - 3), 7, ...new Array(14).fill(0))), 'key block count 7 is more than 6');
    malformed(() => decodeResponse(msg(0, 0x82)), 'protocol version 0 is not supported (want 1)', 'BAD_VERSION');
    malformed(() => decodeResponse(msg(1, 3)), 'message type 0x3 is not a response', 'UNKNOWN_TYPE');
    malformed(() => decodeResponse(Uint8Array.of(1, 0x81, 0)), 'message is 3 bytes, shorter than its 4-byte header');
    malformed(() => decodeResponse(msg(1, 0x81, ...new Array(65).fill(0))), 'ping data is 65 bytes, more than 64');
    malformed(() => decodeResponse(msg(1, 0x84, 0xf6, 0x03, ...new Array(1014).fill(0x61))), 'token is 1014 bytes, more than 1013');
    malformed(() => decodeResponse(msg(1, 0x84, 5)), 'truncated token length');
    malformed(() => decodeResponse(msg(1, 0x84, 5, 0, 0x61)), 'truncated token');
    malformed(() => decodeResponse(msg(1, 0x7f, 1)), 'truncated status');
    malformed(() => decodeResponse(msg(1, 0x7f, 1, 0, 0, 0, 0)), 'truncated esp_err');
    malformed(() => decodeResponse(msg(1, 0x7f, 1, 0, 0, 0, 0, 0)), 'truncated detail length');
    malformed(() => decodeResponse(msg(1, 0x7f, 1, 0, 0, 0, 0, 0, 201, ...new Array(201).fill(0x41))), 'detail length 201 is outside 0..200');
    malformed(() => decodeResponse(msg(1, 0x7f, 1, 0, 0, 0, 0, 0, 2, 0x41)), 'truncated detail');
  });

  it('response encoding refusals, naming the field', () => {
    const info = (o: object) => () => encodeResponse({ type: 'info', id: 1, info: { ...state, keys: [], ...o } });
    const att = (o: object) => () => encodeResponse({ type: 'attest', id: 1, attestation: { ...attestation, ...o } });
    refused(() => encodeResponse({ type: 'nope', id: 1 } as never), TypeError, 'response type must be one of ping, info, attest, token, error');
    refused(() => encodeResponse({ type: 'ping', id: 1, data: new Uint8Array(65) }), RangeError, 'data must be 0..64 bytes, got 65');
    refused(() => encodeResponse({ type: 'ping', id: 0x10000, data: new Uint8Array(1) }), RangeError, 'id must be 0..65535, got 65536');
    refused(info({ chip: 256 }), RangeError, 'chip must be 0..255, got 256');
    refused(info({ revision: 0x10000 }), RangeError, 'revision must be 0..65535, got 65536');
    refused(info({ deviceId: new Uint8Array(7) }), RangeError, 'deviceId must be 6 bytes, got 7');
    refused(info({ firmwareId: new Uint8Array(31) }), RangeError, 'firmwareId must be 32 bytes, got 31');
    refused(info({ firmwareVersion: 'é'.repeat(16) + 'a' }), RangeError, 'firmwareVersion must be at most 32 bytes');
    refused(info({ firmwareVersion: 1 }), TypeError, 'firmwareVersion must be a string, got number');
    refused(info({ keys: {} }), RangeError, 'keys must be an array of at most 6 blocks');
    refused(info({ keys: new Array(7).fill({ purpose: 0, readProtected: false, writeProtected: false }) }), RangeError, 'keys must be an array of at most 6 blocks');
    refused(info({ keys: [{ purpose: 256, readProtected: false, writeProtected: false }] }), RangeError, 'purpose must be 0..255, got 256');
    refused(att({ chip: -1 }), RangeError, 'chip must be 0..255, got -1');
    refused(att({ slot: 6 }), RangeError, 'slot must be 0..5, got 6');
    refused(att({ purpose: 256 }), RangeError, 'purpose must be 0..255, got 256');
    refused(att({ deviceNonce: new Uint8Array(17) }), RangeError, 'deviceNonce must be 16 bytes, got 17');
    refused(att({ mac: new Uint8Array(31) }), RangeError, 'mac must be 32 bytes, got 31');
    refused(() => encodeResponse({ type: 'token', id: 1, token: 't'.repeat(1014) }), RangeError, 'token must be at most 1013 bytes');
    refused(() => encodeResponse({ type: 'token', id: 1, token: 5 as never }), TypeError, 'token must be a string, got number');
    const err = { type: 'error' as const, id: 1, status: 1, espErr: 0, detail: '' };
    refused(() => encodeResponse({ ...err, status: 0x10000 }), RangeError, 'status must be 0..65535, got 65536');
    refused(() => encodeResponse({ ...err, espErr: 2 ** 31 }), RangeError, 'espErr must be -2147483648..2147483647, got 2147483648');
    refused(() => encodeResponse({ ...err, espErr: -(2 ** 31) - 1 }), RangeError, 'espErr must be -2147483648..2147483647, got -2147483649');
    refused(() => encodeResponse({ ...err, detail: undefined as never }), TypeError, 'detail must be a string, got undefined');
  });
});

describe('byte helpers: checks, UTF-8, hex, base64, reader and writer (protocol/bytes.ts)', () => {
  it('argument checks say what was wanted and what came', () => {
    const b = new Uint8Array(3);
    assert.equal(abytes(b, 'b'), b);
    assert.equal(abytes(b, 'b', 3, 3), b);
    refused(() => abytes([1], 'b'), TypeError, 'b must be a Uint8Array');
    refused(() => abytes(b, 'b', 4, 4), RangeError, 'b must be 4 bytes, got 3');
    refused(() => abytes(b, 'b', 1, 2), RangeError, 'b must be 1..2 bytes, got 3');
    refused(() => abytes(b, 'b', 4), RangeError, `b must be 4..${Number.MAX_SAFE_INTEGER} bytes, got 3`);
    assert.equal(aint(0, 'n', 0, 0), 0);
    refused(() => aint('1', 'n', 0, 9), TypeError, 'n must be an integer');
    refused(() => aint(NaN, 'n', 0, 9), TypeError, 'n must be an integer');
    refused(() => aint(10, 'n', 0, 9), RangeError, 'n must be 0..9, got 10');
    refused(() => aint(-1, 'n', 0, 9), RangeError, 'n must be 0..9, got -1');
    assert.equal(astring('', 's'), '');
    assert.equal(astring('ab', 's', 2), 'ab');
    refused(() => astring(null, 's'), TypeError, 's must be a string, got null');
    refused(() => astring({}, 's'), TypeError, 's must be a string, got object');
    refused(() => astring('', 's', 1), RangeError, 's must not be empty');
    refused(() => astring('ab', 's', 3), RangeError, 's must be at least 3 characters');
  });

  it('concat and equalBytes', () => {
    assert.deepEqual(concat(), new Uint8Array(0));
    assert.deepEqual(concat(Uint8Array.of(1), new Uint8Array(0), Uint8Array.of(2, 3)), Uint8Array.of(1, 2, 3));
    assert.equal(equalBytes(Uint8Array.of(1, 2), Uint8Array.of(1, 2)), true);
    assert.equal(equalBytes(new Uint8Array(0), new Uint8Array(0)), true);
    assert.equal(equalBytes(Uint8Array.of(1, 2), Uint8Array.of(1, 3)), false);
    assert.equal(equalBytes(Uint8Array.of(0, 2), Uint8Array.of(1, 2)), false);
    assert.equal(equalBytes(Uint8Array.of(1), Uint8Array.of(1, 0)), false);
  });

  it('hex: every byte, either case in, lower case out; odd lengths and non-digits refused naming the argument', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const hex = Array.from(all, (x) => x.toString(16).padStart(2, '0')).join('');
    assert.equal(toHex(all), hex);
    assert.deepEqual(fromHex(hex), all);
    assert.deepEqual(fromHex(hex.toUpperCase()), all);
    assert.deepEqual(fromHex(''), new Uint8Array(0));
    refused(() => fromHex('abc'), RangeError, 'hex must be an even number of hex digits');
    refused(() => fromHex('0g', 'key'), RangeError, 'key must be an even number of hex digits');
    refused(() => fromHex(' 0'), RangeError, 'hex must be an even number of hex digits');
    refused(() => fromHex('0 '), RangeError, 'hex must be an even number of hex digits');
    refused(() => fromHex('g000'), RangeError, 'hex must be an even number of hex digits');
    refused(() => fromHex(1 as never), TypeError, 'hex must be a string, got number');
  });

  it('UTF-8 encoding at every length boundary; surrogate pairs joined, lone surrogates U+FFFD', () => {
    const cases: [string, number[]][] = [
      ['\u007f', [0x7f]], ['\u0080', [0xc2, 0x80]], ['\u07ff', [0xdf, 0xbf]], ['\u0800', [0xe0, 0xa0, 0x80]], ['\ud7ff', [0xed, 0x9f, 0xbf]],
      ['\ue000', [0xee, 0x80, 0x80]], ['\uffff', [0xef, 0xbf, 0xbf]], ['\ud800\udc00', [0xf0, 0x90, 0x80, 0x80]], ['\udbff\udfff', [0xf4, 0x8f, 0xbf, 0xbf]],
      ['\ud800', [0xef, 0xbf, 0xbd]], ['\udbff', [0xef, 0xbf, 0xbd]], ['\udc00', [0xef, 0xbf, 0xbd]], ['\udfff', [0xef, 0xbf, 0xbd]],
      ['\ud800a', [0xef, 0xbf, 0xbd, 0x61]], ['\ud800\ud800\udc00', [0xef, 0xbf, 0xbd, 0xf0, 0x90, 0x80, 0x80]], ['\udc00\ud800', [0xef, 0xbf, 0xbd, 0xef, 0xbf, 0xbd]],
      ['\ud800\ue000', [0xef, 0xbf, 0xbd, 0xee, 0x80, 0x80]], ['\udc00\udc00', [0xef, 0xbf, 0xbd, 0xef, 0xbf, 0xbd]], ['a\u0000', [0x61, 0]], ['é\u007f', [0xc3, 0xa9, 0x7f]],
      // A low surrogate after a character that is not a high surrogate is a lone one.
      ['é\udc00', [0xc3, 0xa9, 0xef, 0xbf, 0xbd]], ['\u0800\udfff', [0xe0, 0xa0, 0x80, 0xef, 0xbf, 0xbd]],
    ];
    for (const [s, bytes] of cases) assert.deepEqual([...utf8Encode(s)], bytes, JSON.stringify(s));
    assert.deepEqual(utf8Encode(''), new Uint8Array(0));
  });

  it('UTF-8 decoding: one U+FFFD per byte of a malformed sequence, one per whole overlong or out-of-range one', () => {
    const cases: [number[], string][] = [
      [[0x7f], '\u007f'], [[0x80], '\ufffd'], [[0xc1, 0xbf], '\ufffd\ufffd'], [[0xc2, 0x80], '\u0080'], [[0xdf, 0xbf], '\u07ff'], [[0xc2], '\ufffd'],
      [[0xc2, 0x41], '\ufffdA'], [[0xc2, 0xc0], '\ufffd\ufffd'], [[0xe0, 0xa0, 0x80], '\u0800'], [[0xe0, 0x9f, 0xbf], '\ufffd'], [[0xef, 0xbf, 0xbf], '\uffff'],
      [[0xed, 0x9f, 0xbf], '\ud7ff'], [[0xed, 0xa0, 0x80], '\ufffd'], [[0xed, 0xbf, 0xbf], '\ufffd'], [[0xee, 0x80, 0x80], '\ue000'], [[0xe0, 0xa0], '\ufffd\ufffd'],
      [[0xe0, 0x41, 0x80], '\ufffdA\ufffd'], [[0xe0, 0xa0, 0x41], '\ufffd\ufffdA'], [[0xf0, 0x90, 0x80, 0x80], '\u{10000}'], [[0xf4, 0x8f, 0xbf, 0xbf], '\u{10ffff}'],
      [[0xf4, 0x90, 0x80, 0x80], '\ufffd'], [[0xf0, 0x8f, 0xbf, 0xbf], '\ufffd'], [[0xf5, 0x80, 0x80, 0x80], '\ufffd\ufffd\ufffd\ufffd'], [[0xf0, 0x90, 0x80], '\ufffd\ufffd\ufffd'],
      [[0xf0, 0x41, 0x80, 0x80], '\ufffdA\ufffd\ufffd'], [[0xf0, 0x90, 0x41, 0x80], '\ufffd\ufffdA\ufffd'], [[0xf0, 0x90, 0x80, 0x41], '\ufffd\ufffd\ufffdA'],
      [[0xe0, 0x80, 0x80], '\ufffd'], [[0xff, 0xfe], '\ufffd\ufffd'], [[0xf7, 0xbf, 0xbf, 0xbf], '\ufffd\ufffd\ufffd\ufffd'],
      // Only F0..F4 lead a 4-byte sequence: a stray continuation byte or C0 before three more is one U+FFFD each.
      [[0x80, 0x80, 0x80, 0x80], '\ufffd\ufffd\ufffd\ufffd'], [[0xc0, 0x80, 0x80, 0x80], '\ufffd\ufffd\ufffd\ufffd'],
    ];
    for (const [bytes, s] of cases) assert.equal(utf8Decode(Uint8Array.from(bytes)), s, toHex(Uint8Array.from(bytes)));
    assert.equal(utf8Decode(new Uint8Array(0)), '');
    // Longer than the 256-code-point chunks, across chunk ends.
    for (const n of [255, 256, 257, 512, 513, 1000]) {
      const s = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 'é' : i % 3 === 1 ? '𝄞' : 'a')).join('');
      assert.equal(utf8Decode(utf8Encode(s)), s, `${n} code points`);
    }
    // 400 000 code points: more than one String.fromCodePoint call can take as arguments.
    const long = 'aé€'.repeat(133_334);
    assert.equal(utf8Decode(utf8Encode(long)), long);
  });

  it('base64: padding, the whole alphabet, and refusals naming the argument', () => {
    const all = Uint8Array.from({ length: 48 }, (_, i) => (i * 85 + 3) & 255);
    assert.equal(toBase64(all), Buffer.from(all).toString('base64'));
    const alphabet = fromBase64('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/');
    assert.equal(Buffer.from(alphabet).toString('base64'), 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/');
    assert.equal(toBase64(Uint8Array.of(0xff)), '/w==');
    assert.equal(toBase64(Uint8Array.of(0xff, 0xfe)), '//4=');
    assert.equal(toBase64(Uint8Array.of(0xfb, 0xff, 0xbf)), '+/+/');
    assert.deepEqual(fromBase64('/w=='), Uint8Array.of(0xff));
    assert.deepEqual(fromBase64('//4='), Uint8Array.of(0xff, 0xfe));
    assert.deepEqual(fromBase64(''), new Uint8Array(0));
    for (const bad of ['A', 'AB=', 'A===', '====', 'AA=A', 'AA==AAAA', 'A-B_', 'AAA ', ' AAA']) {
      refused(() => fromBase64(bad), RangeError, 'base64 is not valid base64');
    }
    refused(() => fromBase64('!!!!', 'sig'), RangeError, 'sig is not valid base64');
    refused(() => fromBase64(5 as never), TypeError, 'base64 must be a string, got number');
  });

  it('Reader: little-endian fields, bounds-checked reads naming the field, trailing bytes counted', () => {
    const r = new Reader(Uint8Array.of(0x81, 0x02, 0x81, 0xfe, 0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff, 3, 7, 8, 9, 0xaa));
    assert.equal(r.u8('a'), 0x81);
    assert.equal(r.u16('b'), 0x8102);
    assert.equal(r.u32('c'), 0xfffffffe);
    assert.equal(r.i32('d'), -2);
    assert.deepEqual(r.lbytes(3, 3, 'e'), Uint8Array.of(7, 8, 9));
    malformed(() => r.end('x'), '1 trailing bytes after x');
    malformed(() => r.u16('f'), 'truncated f');
    assert.deepEqual(r.bytes(1, 'g'), Uint8Array.of(0xaa));
    r.end('y');
    malformed(() => r.u8('h'), 'truncated h');
    malformed(() => r.bytes(1, 'i'), 'truncated i');
    assert.deepEqual(r.bytes(0, 'j'), new Uint8Array(0));
    const sub = new Reader(Uint8Array.of(9, 9, 1, 2, 3, 4, 9).subarray(2, 6));
    assert.equal(sub.u32('k'), 0x04030201, 'reads the view, not the whole buffer');
    malformed(() => sub.u8('l'), 'truncated l');
    malformed(() => new Reader(Uint8Array.of(1, 2, 3)).u32('m'), 'truncated m');
    malformed(() => new Reader(Uint8Array.of(1, 2, 3)).i32('n'), 'truncated n');
    malformed(() => new Reader(Uint8Array.of(1)).u16('o'), 'truncated o');
    malformed(() => new Reader(Uint8Array.of(4, 1, 2)).lbytes(0, 4, 'p'), 'truncated p');
    malformed(() => new Reader(Uint8Array.of(5, 1, 2, 3, 4, 5)).lbytes(1, 4, 'q'), 'q length 5 is outside 1..4');
    malformed(() => new Reader(Uint8Array.of(0)).lbytes(1, 4, 'r'), 'r length 0 is outside 1..4');
    malformed(() => new Reader(new Uint8Array(0)).lbytes(1, 4, 's'), 'truncated s length');
    assert.equal(new MalformedError('m').status, 'MALFORMED');
    assert.equal(new MalformedError('m', 'BAD_RESOURCE').status, 'BAD_RESOURCE');
  });

  it('Writer: little-endian fields, growing past its capacity', () => {
    const w = new Writer(1);
    w.u8(0x1ff).u16(0xabcd).u32(0xfedcba98).u32(-2).bytes(Uint8Array.of(1, 2)).lbytes(Uint8Array.of(3));
    assert.deepEqual([...w.finish()], [0xff, 0xcd, 0xab, 0x98, 0xba, 0xdc, 0xfe, 0xfe, 0xff, 0xff, 0xff, 1, 2, 1, 3]);
    const big = new Writer(2).bytes(new Uint8Array(100).fill(5)).u8(6);
    assert.deepEqual(big.finish(), Uint8Array.of(...new Array(100).fill(5), 6));
    const grow = new Writer(4);
    for (let i = 0; i < 40; i++) grow.u16(i);
    assert.deepEqual([...grow.finish()], Array.from({ length: 40 }, (_, i) => [i, 0]).flat());
    assert.deepEqual(new Writer().finish(), new Uint8Array(0));
  });
});

describe('status codes and ESP-IDF error names (protocol/status.ts)', () => {
  it('every code, its name and its text', () => {
    const names = ['BAD_VERSION', 'UNKNOWN_TYPE', 'MALFORMED', 'BAD_NONCE', 'BAD_SLOT', 'NO_HMAC', 'KEY_PURPOSE', 'HMAC_FAILED', 'EFUSE_READ', 'BAD_RESOURCE',
      'BAD_EXPIRY', 'INTERNAL', 'KEY_ROLE'];
    assert.deepEqual(Object.entries(Status), names.map((n, i) => [n, i + 1]));
    for (const [i, n] of names.entries()) assert.equal(statusName(i + 1), n);
    assert.equal(statusName(0), 'UNKNOWN');
    assert.equal(statusName(14), 'UNKNOWN');
    assert.deepEqual(STATUS_TEXT, {
      BAD_VERSION: 'unsupported protocol version', UNKNOWN_TYPE: 'unknown message type', MALFORMED: 'malformed message body',
      BAD_NONCE: 'host nonce must be 16..64 bytes', BAD_SLOT: 'key slot must be 0..5', NO_HMAC: 'this chip has no HMAC peripheral',
      KEY_PURPOSE: 'key block purpose is not HMAC_UP (esp_hmac_calculate returned ESP_FAIL)', HMAC_FAILED: 'esp_hmac_calculate failed',
      EFUSE_READ: 'eFuse read failed', BAD_RESOURCE: 'token resource must be 1..256 bytes of printable text',
      BAD_EXPIRY: 'token expiry must be 1..4294967295 seconds since the epoch', INTERNAL: 'internal device error',
      KEY_ROLE: 'key block has the other role (attestation or cloud token)',
    });
    assert.ok(Object.isFrozen(Status) && Object.isFrozen(STATUS_TEXT) && Object.isFrozen(ESP_ERR));
  });

  it('ESP-IDF error names, hex for the others', () => {
    assert.deepEqual(ESP_ERR, {
      ESP_OK: 0, ESP_FAIL: -1, ESP_ERR_NO_MEM: 0x101, ESP_ERR_INVALID_ARG: 0x102, ESP_ERR_INVALID_STATE: 0x103, ESP_ERR_INVALID_SIZE: 0x104,
      ESP_ERR_NOT_FOUND: 0x105, ESP_ERR_NOT_SUPPORTED: 0x106, ESP_ERR_TIMEOUT: 0x107, ESP_ERR_NOT_ALLOWED: 0x10d,
    });
    for (const [k, v] of Object.entries(ESP_ERR)) assert.equal(espErrName(v), k);
    assert.equal(espErrName(0x108), '0x108');
    assert.equal(espErrName(-2), '0xfffffffe');
  });
});

let crcInstances = 0;

describe('CRC-32 (protocol/crc32.ts)', () => {
  it('the check value, ranges of a buffer, the table, and slices of every length', () => {
    const nine = utf8Encode('123456789');
    assert.equal(crc32(nine), 0xcbf43926);
    assert.equal(crc32(new Uint8Array(0)), 0);
    assert.equal(crc32(concat(utf8Encode('xx'), nine, utf8Encode('y')), 2, 11), 0xcbf43926);
    assert.equal(crc32(concat(utf8Encode('xx'), nine), 2), 0xcbf43926);
    const t = crc32Table();
    assert.equal(t.length, 256);
    assert.deepEqual([t[0], t[1], t[2], t[8], t[128], t[255]], [0, 0x77073096, 0xee0e612c, 0x0edb8832, 0xedb88320, 0x2d02ef8d]);
    assert.equal(crc32Table(), t, 'built once');
    assert.equal(CRC_SLICE_MAX, 1024);
    const data = filled(1100, 11);
    const run = (k: number) => crc32(data, 0, k);
    assert.equal(crc32Slice(run(5), run(5), 0), 0);
    for (const [a, n] of [[0, 1], [3, 1], [1, 2], [7, 3], [0, 4], [9, 31], [2, 255], [40, 256], [1, 1023], [0, 1024], [76, 1024]] as const) {
      assert.equal(crc32Slice(run(a), run(a + n), n), crc32(data, a, a + n), `slice ${a}+${n}`);
    }
  });

  it('a fresh instance of each module builds the same tables (each is built once per process, on first use)', async () => {
    // A new URL is a new module instance, with its own (not yet built) shift table.
    const fresh = (await import(`../protocol/crc32.js?instance=${++crcInstances}`)) as typeof import('../protocol/crc32.js');
    const data = filled(1100, 12);
    assert.equal(fresh.crc32Slice(crc32(data, 0, 3), crc32(data, 0, 1027), 1024), crc32(data, 3, 1027));
    for (const [a, n] of [[0, 1], [5, 2], [1, 7], [9, 8], [2, 9], [100, 64], [7, 513], [1, 1023]] as const) {
      assert.equal(fresh.crc32Slice(crc32(data, 0, a), crc32(data, 0, a + n), n), crc32(data, a, a + n), `slice ${a}+${n}`);
    }
    assert.equal(fresh.crc32(utf8Encode('123456789')), 0xcbf43926);
    // The byte loop's module, fresh: crc32Update builds its byte table on first use, as crc32Fill does.
    for (const first of ['update', 'fill'] as const) {
      const loop = (await import(`../protocol/crc32-loop.js?instance=${++crcInstances}`)) as typeof import('../protocol/crc32-loop.js');
      if (first === 'update') assert.equal(loop.crc32Update(0, utf8Encode('123456789'), 0, 9), 0xcbf43926);
      else {
        const run = new Uint32Array(10);
        loop.crc32Fill(utf8Encode('123456789'), 0, 9, run);
        assert.equal(run[9], 0xcbf43926);
      }
      const t = loop.crc32Table();
      assert.notEqual(t, crc32Table(), 'its own table');
      assert.deepEqual(t, crc32Table());
      assert.equal(loop.crc32Table(), t);
    }
  });

  it('the byte loop: crc32Update chains as zlib does, crc32Fill leaves the running CRC after every byte', () => {
    const nine = utf8Encode('123456789');
    assert.equal(crc32Update(0, nine, 0, 9), 0xcbf43926);
    assert.equal(crc32Update(crc32Update(0, nine, 0, 4), nine, 4, 9), 0xcbf43926, 'continued from the CRC of the first four');
    assert.equal(crc32Update(0x1234, nine, 3, 3), 0x1234, 'an empty range leaves the CRC as it was');
    assert.equal(crc32Update(0x12345678, utf8Encode('abc'), 0, 3), 0xa293765f, 'zlib crc32(0x12345678, "abc", 3)');
    assert.equal(crc32Update(0, new Uint8Array(1), 0, 1), 0xd202ef8d, 'one zero byte');
    const data = filled(300, 13);
    for (const seed of [0, 1, 0xcbf43926, 0xffffffff]) {
      const run = new Uint32Array(302).fill(7);
      run[5] = seed;
      crc32Fill(data, 5, 290, run);
      assert.equal(run[4], 7, 'nothing before `from` is written');
      assert.equal(run[291], 7, 'nothing after `to` is written');
      assert.equal(run[5], seed, 'run[from] is the start, left as it was');
      for (let k = 5; k <= 290; k++) assert.equal(run[k], crc32Update(seed, data, 5, k), `run[${k}] from ${seed}`);
    }
    const run = new Uint32Array(4).fill(9);
    crc32Fill(data, 2, 2, run);
    assert.deepEqual([...run], [9, 9, 9, 9], 'an empty range writes nothing');
  });
});

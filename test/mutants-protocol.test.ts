// Edges of the portable protocol code that the mutation run found unchecked: the transcript's exact
// byte layout and field bounds (protocol/transcript.ts), percent-encoding at every character-class
// boundary and the exact limits of resources, key names and expiries (protocol/sas.ts), every refusal
// of a non-canonical token, and the spellings of a device id (protocol/deviceid.ts).
import assert from 'node:assert/strict';
import {
  ATTEST_TAG, buildTranscript, checkKeyName, checkResource, formatSasToken, MAX_TRANSCRIPT, parseSasToken, percentEncode, sasStringToSign,
  toBase64, utf8Decode, writeTranscript,
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

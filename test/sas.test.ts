// SAS tokens (docs/protocol.md §7): the known-answer vectors whole; byte equality with the real Azure
// IoT SDK (azure-iot-common: SharedAccessSignature.create over encodeUriComponentStrict) for device
// ids with ( ) ! * ' and non-ASCII text; and one spelling per token — every other spelling of a
// valid token (unused base64 bits, %3d, an unencoded sr, another field order…) is refused.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { formatSasToken, fromBase64, fromHex, parseSasToken, percentEncode, sasStringToSign, toBase64, toHex, utf8Decode } from '../protocol/index.js';
import { dpsDeviceKey } from '../host/keys.js';
import { hmacSha256, verifyToken } from '../host/verify.js';
import { VerificationError } from '../host/errors.js';
import { azureVectors, type TokenVector, vectors } from './support/vectors.js';

const require = createRequire(import.meta.url);
const sdk = require('azure-iot-common') as {
  SharedAccessSignature: { create(resourceUri: string, keyName: string | undefined, key: string, expiry: number): { toString(): string } };
  encodeUriComponentStrict(s: string): string;
};

/** The SDK's token for `resource`, as its device client makes it: the strict-encoded resource signed with a base64 key. */
const sdkToken = (key: Uint8Array, resource: string, expiry: number, keyName = '') =>
  sdk.SharedAccessSignature.create(sdk.encodeUriComponentStrict(resource), keyName || undefined, toBase64(key), expiry).toString();

const all: [string, TokenVector][] = [
  ...vectors.tokens.map((v) => ['protocol.json', v] as [string, TokenVector]),
  ...azureVectors.sas.map((v) => ['azure.json', v] as [string, TokenVector]),
];

describe('SAS tokens: vectors and the Azure IoT SDK (docs/protocol.md §7)', () => {
  for (const [file, v] of all) {
    it(`${file}: ${v.resource}${v.keyName ? ' skn=' + v.keyName : ''}`, () => {
      const key = fromHex(v.key);
      assert.equal(utf8Decode(sasStringToSign(v.resource, v.expiry)), v.stringToSign);
      const sig = hmacSha256(key, sasStringToSign(v.resource, v.expiry));
      if (v.signature) assert.equal(toHex(sig), v.signature);
      const ours = formatSasToken(v.resource, v.expiry, sig, v.keyName);
      assert.equal(ours, v.token);
      assert.equal(sdkToken(key, v.resource, v.expiry, v.keyName), ours, 'byte for byte what azure-iot-common makes');
      const ok = verifyToken(v.token, { key, resource: v.resource, now: v.expiry - 1 });
      assert.equal(ok.resource, v.resource);
      assert.equal(ok.keyName, v.keyName);
    });
  }

  it('percentEncode equals the SDK\'s encodeUriComponentStrict on every printable ASCII character and some Unicode', () => {
    const chars = [...Array.from({ length: 95 }, (_, i) => String.fromCharCode(0x20 + i)), 'é', '€', '😀', 'Dev 1(x)'];
    for (const c of chars) assert.equal(percentEncode(c), sdk.encodeUriComponentStrict(c), JSON.stringify(c));
  });

  it('azure.json: the DPS group-enrollment derivation (Microsoft\'s example)', () => {
    const d = azureVectors.dps;
    assert.equal(toBase64(dpsDeviceKey(fromBase64(d.groupKey), d.registrationId)), d.deviceKey);
  });
});

describe('SAS tokens: one canonical spelling (docs/protocol.md §7.2)', () => {
  const v = vectors.tokens[2]!; // "it's*ok!" with skn
  const key = fromHex(v.key);
  const good = v.token;
  const sig = fromHex(v.signature!);
  const sigB64 = toBase64(sig);
  const lastChar = sigB64[42]!; // 32 bytes: 43 characters + "=", the last one carries 2 unused bits
  const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const flipped = sigB64.slice(0, 42) + B64[B64.indexOf(lastChar) ^ 1] + '=';
  const enc = (s: string) => s.replace(/\+/g, '%2B').replace(/\//g, '%2F').replace(/=/g, '%3D');
  const variants: [string, string][] = [
    ['unused base64 bits set', good.replace(enc(sigB64), enc(flipped))],
    ['%3d in lower case', good.replace('%3D', '%3d')],
    ['sr not encoded', good.replace(percentEncode(v.resource), v.resource.replace(/ /g, '%20'))],
    ['sr with encodeURIComponent (no strict escapes)', good.replace(percentEncode(v.resource), encodeURIComponent(v.resource))],
    ['sr with "*" as %2A', good.replace('%2a', '%2A')],
    ['sr with a needless escape', good.replace('myhub', '%6Dyhub')],
    ['sig not percent-encoded', good.replace(enc(sigB64), sigB64)],
    ['se before skn', good.replace(/&skn=device&se=(\d+)$/, '&se=$1&skn=device')],
    ['se first', `SharedAccessSignature se=${v.expiry}&sr=${percentEncode(v.resource)}&sig=${enc(sigB64)}&skn=device`],
    ['empty skn', good.replace('&skn=device', '&skn=')],
  ];

  it('the canonical token verifies', () => {
    assert.equal(verifyToken(good, { key, now: 1, maxLifetimeSeconds: 0xffffffff }).resource, v.resource);
  });

  for (const [name, text] of variants) {
    it(`refused: ${name}`, () => {
      assert.notEqual(text, good, 'the variant differs from the token');
      assert.throws(() => parseSasToken(text), RangeError);
      assert.throws(() => verifyToken(text, { key, now: 1 }), (e: unknown) => e instanceof VerificationError && e.reason === 'FORMAT');
    });
  }

  it('a verifier keys replay and deny lists on the signature, which has one spelling', () => {
    const r = verifyToken(good, { key, now: 1, maxLifetimeSeconds: 0xffffffff });
    assert.equal(r.signature, sigB64);
  });
});

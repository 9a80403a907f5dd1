// Azure-style Shared Access Signature tokens (docs/protocol.md §7), byte for byte the form of the
// Azure IoT SDK (azure-iot-common SharedAccessSignature with encodeUriComponentStrict):
//   string-to-sign = pct(resource) + "\n" + expiry
//   token = "SharedAccessSignature sr=" + pct(resource) + "&sig=" + pct(base64(HMAC-SHA256(key, string-to-sign)))
//           [+ "&skn=" + keyName] + "&se=" + expiry
// pct() is RFC 3986 strict percent-encoding of the UTF-8 bytes: A-Z a-z 0-9 - . _ ~ stay, every
// other byte is %XX with upper-case hex, except "*" which is "%2a" (so ! ' ( ) * are encoded, unlike
// encodeURIComponent; the SDK writes "*" with a lower-case a).
// The string-to-sign is printable ASCII plus one "\n", so it can never collide with an attestation
// transcript, which starts with 0x00 0xEF. A token has one spelling: parseSasToken refuses any other
// (field order, lower-case or needless escapes, unencoded characters, base64 with unused bits set).
import { abytes, aint, astring, fromBase64, toBase64, utf8Decode, utf8Encode } from './bytes.js';
import { MAX_KEY_NAME, MAX_RESOURCE } from './messages.js';

const HEX = '0123456789ABCDEF';

/** True for the RFC 3986 unreserved characters A-Z a-z 0-9 - . _ ~ (as byte values). */
function unreserved(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e || c === 0x5f || c === 0x7e;
}

/**
 * RFC 3986 strict percent-encoding (docs/protocol.md §7.1): the UTF-8 bytes of `text`, the unreserved
 * characters as they are, every other byte as "%" and two upper-case hex digits — but "*" as "%2a".
 * Equal to the Azure IoT SDK's encodeUriComponentStrict for every well-formed string.
 */
export function percentEncode(text: string): string {
  const b = utf8Encode(astring(text, 'text'));
  let out = '';
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    // "*" is "%2a": the SDK encodes ! ' ( ) * with lower-case hex, all other bytes upper-case.
    out += unreserved(c) ? String.fromCharCode(c) : c === 0x2a ? '%2a' : '%' + HEX[c >> 4] + HEX[c & 15];
  }
  return out;
}

export function checkResource(resource: unknown): string {
  astring(resource, 'resource');
  const r = resource as string;
  const bytes = utf8Encode(r);
  const n = bytes.length;
  if (n < 1 || n > MAX_RESOURCE) throw new RangeError(`resource must be 1..${MAX_RESOURCE} bytes, got ${n}`);
  for (let i = 0; i < r.length; i++) {
    const c = r.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) throw new RangeError('resource must not contain control characters');
  }
  if (utf8Decode(bytes) !== r) throw new RangeError('resource must be well-formed Unicode text (no lone surrogates)');
  return r;
}

export function checkKeyName(keyName: unknown): string {
  astring(keyName, 'keyName');
  if (!/^[A-Za-z0-9._-]*$/.test(keyName as string) || (keyName as string).length > MAX_KEY_NAME) {
    throw new RangeError(`keyName must be at most ${MAX_KEY_NAME} characters of A-Z a-z 0-9 . _ -`);
  }
  return keyName as string;
}

export function sasStringToSign(resource: string, expiry: number): Uint8Array {
  checkResource(resource);
  aint(expiry, 'expiry', 1, 0xffffffff);
  return utf8Encode(percentEncode(resource) + '\n' + expiry);
}

export function formatSasToken(resource: string, expiry: number, signature: Uint8Array, keyName = ''): string {
  checkResource(resource);
  aint(expiry, 'expiry', 1, 0xffffffff);
  abytes(signature, 'signature', 32, 32);
  checkKeyName(keyName);
  return `SharedAccessSignature sr=${percentEncode(resource)}&sig=${percentEncode(toBase64(signature))}` +
    (keyName ? `&skn=${keyName}` : '') + `&se=${expiry}`;
}

export interface SasToken {
  resource: string;
  expiry: number;
  signature: Uint8Array;
  keyName: string;
}

/** Reverses percentEncode; RangeError for a "%" without two hex digits or a character above ASCII. */
function percentDecode(text: string, name: string): string {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x25) {
      const h = text.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(h)) throw new RangeError(`token ${name} has a "%" not followed by two hex digits`);
      out.push(parseInt(h, 16));
      i += 2;
    } else if (ch < 0x80) {
      out.push(ch);
    } else {
      throw new RangeError(`token ${name} has a character that is not percent-encoded`);
    }
  }
  // Malformed UTF-8 decodes to U+FFFD, which the caller's re-encoding check then refuses.
  return utf8Decode(Uint8Array.from(out));
}

const ORDER = ['sr', 'sig', 'skn', 'se'];

/**
 * Parses a token in its canonical form (docs/protocol.md §7.2) — the form formatSasToken and the
 * Azure IoT SDK produce: fields sr, sig, [skn,] se in this order, sr and sig percent-encoded exactly
 * as percentEncode does (hex case included), the signature's base64 with its unused bits zero. Any other spelling of
 * the same token is refused with a RangeError naming the part that differs, so one signature has
 * one token text.
 */
export function parseSasToken(token: string): SasToken {
  astring(token, 'token');
  const prefix = 'SharedAccessSignature ';
  if (!token.startsWith(prefix)) throw new RangeError('token must start with "SharedAccessSignature "');
  const keys: string[] = [];
  const fields = new Map<string, string>();
  for (const part of token.slice(prefix.length).split('&')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new RangeError('token has a field that is not key=value');
    const k = part.slice(0, eq);
    if (!ORDER.includes(k)) throw new RangeError(`token field "${k.slice(0, 16)}" is not known`);
    if (fields.has(k)) throw new RangeError(`token field "${k}" appears twice`);
    fields.set(k, part.slice(eq + 1));
    keys.push(k);
  }
  const sr = fields.get('sr');
  const sig = fields.get('sig');
  const se = fields.get('se');
  if (sr === undefined || sig === undefined || se === undefined) throw new RangeError('token must have sr, sig and se');
  if (keys.join(',') !== ORDER.filter((k) => fields.has(k)).join(',')) throw new RangeError('token fields must come in the order sr, sig, skn, se');
  if (!/^[1-9][0-9]{0,9}$/.test(se) || Number(se) > 0xffffffff) throw new RangeError('token expiry (se) must be a whole number of seconds');
  const resource = checkResource(percentDecode(sr, 'sr'));
  if (percentEncode(resource) !== sr) throw new RangeError('token sr is not percent-encoded in the canonical way (RFC 3986 unreserved characters as they are, every other byte as %XX in upper case, "*" as %2a)');
  const sigText = percentDecode(sig, 'sig');
  const signature = fromBase64(sigText, 'token signature');
  if (signature.length !== 32) throw new RangeError('token signature must be 32 bytes');
  if (percentEncode(toBase64(signature)) !== sig) throw new RangeError('token sig is not the canonical encoding of its signature (padded base64, unused bits zero, percent-encoded in upper case)');
  const keyName = checkKeyName(fields.get('skn') ?? '');
  if (fields.has('skn') && keyName === '') throw new RangeError('token skn must not be empty');
  return { resource, expiry: Number(se), signature, keyName };
}

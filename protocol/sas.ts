// Azure-style Shared Access Signature tokens (docs/protocol.md §7):
//   string-to-sign = encodeURIComponent(resource) + "\n" + expiry
//   token = "SharedAccessSignature sr=" + encodeURIComponent(resource) + "&sig=" +
//           encodeURIComponent(base64(HMAC-SHA256(key, string-to-sign))) + "&se=" + expiry [+ "&skn=" + keyName]
// The string-to-sign is printable ASCII plus one "\n", so it can never collide with an
// attestation transcript, which starts with 0x00 0xEF.
import { abytes, aint, astring, fromBase64, toBase64, utf8Encode } from './bytes.js';
import { MAX_KEY_NAME, MAX_RESOURCE } from './messages.js';

export function checkResource(resource: unknown): string {
  astring(resource, 'resource');
  const n = utf8Encode(resource as string).length;
  if (n < 1 || n > MAX_RESOURCE) throw new RangeError(`resource must be 1..${MAX_RESOURCE} bytes, got ${n}`);
  for (let i = 0; i < (resource as string).length; i++) {
    const c = (resource as string).charCodeAt(i);
    if (c < 0x20 || c === 0x7f) throw new RangeError('resource must not contain control characters');
  }
  return resource as string;
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
  return utf8Encode(encodeURIComponent(resource) + '\n' + expiry);
}

export function formatSasToken(resource: string, expiry: number, signature: Uint8Array, keyName = ''): string {
  checkResource(resource);
  aint(expiry, 'expiry', 1, 0xffffffff);
  abytes(signature, 'signature', 32, 32);
  checkKeyName(keyName);
  let t = `SharedAccessSignature sr=${encodeURIComponent(resource)}&sig=${encodeURIComponent(toBase64(signature))}&se=${expiry}`;
  if (keyName) t += `&skn=${keyName}`;
  return t;
}

export interface SasToken {
  resource: string;
  expiry: number;
  signature: Uint8Array;
  keyName: string;
}

/** Parses a token; RangeError naming the part that is wrong. Fields may come in any order. */
export function parseSasToken(token: string): SasToken {
  astring(token, 'token');
  const prefix = 'SharedAccessSignature ';
  if (!token.startsWith(prefix)) throw new RangeError('token must start with "SharedAccessSignature "');
  const fields = new Map<string, string>();
  for (const part of token.slice(prefix.length).split('&')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new RangeError(`token field "${part}" is not key=value`);
    const k = part.slice(0, eq);
    if (fields.has(k)) throw new RangeError(`token field "${k}" appears twice`);
    fields.set(k, part.slice(eq + 1));
  }
  for (const k of fields.keys()) if (!['sr', 'sig', 'se', 'skn'].includes(k)) throw new RangeError(`token field "${k}" is not known`);
  const sr = fields.get('sr');
  const sig = fields.get('sig');
  const se = fields.get('se');
  if (sr === undefined || sig === undefined || se === undefined) throw new RangeError('token must have sr, sig and se');
  if (!/^[1-9][0-9]{0,9}$/.test(se) || Number(se) > 0xffffffff) throw new RangeError('token expiry (se) must be a whole number of seconds');
  let resource: string;
  let sigText: string;
  try {
    resource = decodeURIComponent(sr);
    sigText = decodeURIComponent(sig);
  } catch {
    throw new RangeError('token sr or sig is not valid URL encoding');
  }
  const signature = fromBase64(sigText, 'token signature');
  if (signature.length !== 32) throw new RangeError('token signature must be 32 bytes');
  return { resource: checkResource(resource), expiry: Number(se), signature, keyName: checkKeyName(fields.get('skn') ?? '') };
}

// Key-encryption keys and HMAC keys held in a PKCS#11 token (an HSM; SoftHSM2 in tests), through
// pkcs11js. The KEK is an AES-256 secret key that never leaves the token (sensitive, not
// extractable): data keys are wrapped and unwrapped by AES-GCM inside it (docs/provisioning.md §3.5).
// Tokens are named by an RFC 7512 URI:
//   pkcs11:token=factory;object=escrow-kek?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/efa/pin
// The PIN comes from pin-source (a file, first line) or EFUSE_ATTEST_PKCS11_PIN, never from argv.
// A wrong PIN, a missing token or a missing key is a clear EscrowError and changes nothing.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createHash, randomBytes } from 'node:crypto';
import type * as P from 'pkcs11js';
import { EscrowError } from '../errors.js';
import type { Kek } from './envelope.js';

const require = createRequire(import.meta.url);
type Pkcs11Module = typeof P;

export const PIN_ENV = 'EFUSE_ATTEST_PKCS11_PIN';
export const DEFAULT_MODULE = '/usr/lib/softhsm/libsofthsm2.so';

export interface Pkcs11Uri { token: string; object: string; modulePath: string; pinSource?: string; pinValue?: string }

/** Parses pkcs11:token=…;object=…?module-path=…&pin-source=… (RFC 7512, the attributes used here). */
export function parsePkcs11Uri(uri: string, name = 'kek', needObject = true): Pkcs11Uri {
  if (typeof uri !== 'string') throw new TypeError(`${name} must be a pkcs11: URI string`);
  if (!uri.startsWith('pkcs11:')) throw new RangeError(`${name} must start with pkcs11:, e.g. pkcs11:token=factory;object=escrow-kek`);
  const [path, query = ''] = uri.slice('pkcs11:'.length).split('?', 2) as [string, string?];
  const attrs = new Map<string, string>();
  for (const part of path.split(';').filter((p) => p !== '')) {
    const i = part.indexOf('=');
    if (i < 0) throw new RangeError(`${name} has a malformed attribute "${part}"`);
    attrs.set(part.slice(0, i), decodeURIComponent(part.slice(i + 1)));
  }
  for (const part of query.split('&').filter((p) => p !== '')) {
    const i = part.indexOf('=');
    if (i < 0) throw new RangeError(`${name} has a malformed query attribute "${part}"`);
    attrs.set(part.slice(0, i), decodeURIComponent(part.slice(i + 1)));
  }
  const token = attrs.get('token');
  const object = attrs.get('object');
  if (!token || (needObject && !object)) throw new RangeError(`${name} must name token=…${needObject ? ' and object=…' : ''}`);
  const out: Pkcs11Uri = { token, object: object ?? '', modulePath: attrs.get('module-path') ?? process.env.EFUSE_ATTEST_PKCS11_MODULE ?? DEFAULT_MODULE };
  const pinSource = attrs.get('pin-source');
  if (pinSource !== undefined) out.pinSource = pinSource;
  const pinValue = attrs.get('pin-value');
  if (pinValue !== undefined) out.pinValue = pinValue;
  return out;
}

function readPin(u: Pkcs11Uri): string {
  if (u.pinValue !== undefined) return u.pinValue;
  if (u.pinSource !== undefined) {
    const path = u.pinSource.startsWith('file:') ? u.pinSource.slice(5) : u.pinSource;
    try {
      const pin = readFileSync(path, 'utf8').split(/\r?\n/)[0] ?? '';
      if (pin === '') throw new Error('empty');
      return pin;
    } catch {
      throw new EscrowError(`cannot read the token PIN from ${path}; nothing was changed`, 'ESCROW_PIN');
    }
  }
  const env = process.env[PIN_ENV];
  if (env) return env;
  throw new EscrowError(`the PKCS#11 token PIN is needed: give pin-source=file:PATH in the URI or set ${PIN_ENV}`, 'ESCROW_PIN');
}

/** Loaded modules, shared: C_Initialize once per library per process; the PIN digest of each logged-in token. */
const modules = new Map<string, { lib: P.PKCS11; refs: number; logins: Map<string, string> }>();
const pinDigest = (token: string, pin: string) => createHash('sha256').update(`${token}\0${pin}`).digest('hex');

function pkcs11(): Pkcs11Module {
  try {
    return require('pkcs11js') as Pkcs11Module;
  } catch (err) {
    throw new EscrowError('the pkcs11js package is not installed (npm install pkcs11js)', 'ESCROW_TOKEN', { cause: err });
  }
}

function ckr(err: unknown): string {
  const m = /CKR_[A-Z_]+/.exec((err as Error)?.message ?? '');
  return m ? m[0] : 'unknown error';
}

/** An open, logged-in session on the token named by a URI. */
export class TokenSession {
  readonly p: Pkcs11Module;
  private constructor(readonly lib: P.PKCS11, readonly session: P.Handle, readonly uri: Pkcs11Uri) { this.p = pkcs11(); }

  static open(uriText: string, opts: { object?: boolean } = {}): TokenSession {
    const uri = parsePkcs11Uri(uriText, 'uri', opts.object !== false);
    const p = pkcs11();
    let m = modules.get(uri.modulePath);
    if (!m) {
      const lib = new p.PKCS11();
      try {
        lib.load(uri.modulePath);
        lib.C_Initialize();
      } catch (err) {
        throw new EscrowError(`cannot load the PKCS#11 module ${uri.modulePath} (${ckr(err) === 'unknown error' ? (err as Error).message : ckr(err)}); nothing was changed`, 'ESCROW_TOKEN', { cause: err });
      }
      m = { lib, refs: 0, logins: new Map() };
      modules.set(uri.modulePath, m);
    }
    const lib = m.lib;
    const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trim() === uri.token);
    if (slot === undefined) {
      if (m.refs === 0) { try { lib.C_Finalize(); } catch { /* already gone */ } modules.delete(uri.modulePath); }
      throw new EscrowError(`no PKCS#11 token labelled "${uri.token}" is present (module ${uri.modulePath}); nothing was changed`, 'ESCROW_TOKEN');
    }
    const session = lib.C_OpenSession(slot, p.CKF_SERIAL_SESSION | p.CKF_RW_SESSION);
    let digest = '';
    try {
      const pin = readPin(uri);
      digest = pinDigest(uri.token, pin);
      lib.C_Login(session, p.CKU_USER, pin);
      m.logins.set(uri.token, digest);
    } catch (err) {
      // Login state is per application: another session of this process is logged in already —
      // with this PIN, or this is a wrong one (the token cannot tell us now, so we compare).
      if (ckr(err) === 'CKR_USER_ALREADY_LOGGED_IN' && m.logins.get(uri.token) === digest) return TokenSession.adopt(lib, session, uri, m);
      if (ckr(err) === 'CKR_USER_ALREADY_LOGGED_IN') err = new Error('CKR_PIN_INCORRECT');
      try { lib.C_CloseSession(session); } catch { /* closing a failed session */ }
      if (m.refs === 0) { try { lib.C_Finalize(); } catch { /* already gone */ } modules.delete(uri.modulePath); }
      if (err instanceof EscrowError) throw err;
      const code = ckr(err);
      const what = code === 'CKR_PIN_INCORRECT' ? 'wrong PIN' : code === 'CKR_PIN_LOCKED' ? 'the PIN is locked' : code;
      throw new EscrowError(`cannot log in to the PKCS#11 token "${uri.token}": ${what}; nothing was changed`, 'ESCROW_PIN', { cause: err });
    }
    return TokenSession.adopt(lib, session, uri, m);
  }

  private static adopt(lib: P.PKCS11, session: P.Handle, uri: Pkcs11Uri, m: { refs: number; logins: Map<string, string> }): TokenSession {
    m.refs++;
    return new TokenSession(lib, session, uri);
  }

  /** The secret key labelled `label` and of `keyType`, or undefined. */
  find(label: string, keyType: number): P.Handle | undefined {
    const p = this.p;
    this.lib.C_FindObjectsInit(this.session, [
      { type: p.CKA_CLASS, value: p.CKO_SECRET_KEY }, { type: p.CKA_LABEL, value: label }, { type: p.CKA_KEY_TYPE, value: keyType },
    ]);
    try {
      const found = this.lib.C_FindObjects(this.session, 2);
      if (found.length > 1) throw new EscrowError(`the PKCS#11 token "${this.uri.token}" holds several keys labelled "${label}"; nothing was changed`, 'ESCROW_TOKEN');
      return found[0];
    } finally {
      this.lib.C_FindObjectsFinal(this.session);
    }
  }

  close(): void {
    // No C_Logout: the login belongs to the whole application, other sessions may still use it.
    try { this.lib.C_CloseSession(this.session); } catch { /* already closed */ }
    const m = modules.get(this.uri.modulePath);
    if (m && --m.refs === 0) {
      try { m.lib.C_Finalize(); } catch { /* already finalized */ }
      modules.delete(this.uri.modulePath);
    }
  }
}

/** An AES-256 KEK inside the token; wrap/unwrap are AES-GCM operations the token performs. */
export class Pkcs11Kek implements Kek {
  readonly id: string;
  private constructor(private readonly t: TokenSession, private readonly key: P.Handle) {
    // A fingerprint of the key (not secret): GCM of a fixed block under a fixed IV used for nothing else.
    const fp = this.gcm(true, Buffer.alloc(12), Buffer.alloc(16), Buffer.from('efuse-attest kek id'));
    this.id = `pkcs11:${t.uri.token}/${t.uri.object}:${fp.subarray(0, 8).toString('hex')}`;
  }

  /** Opens the KEK named by the URI; `create` makes it (in the token, non-extractable) when missing. */
  static open(uri: string, opts: { create?: boolean } = {}): Pkcs11Kek {
    const t = TokenSession.open(uri);
    try {
      const p = t.p;
      let key = t.find(t.uri.object, p.CKK_AES);
      if (key === undefined && opts.create) {
        key = t.lib.C_GenerateKey(t.session, { mechanism: p.CKM_AES_KEY_GEN }, [
          { type: p.CKA_CLASS, value: p.CKO_SECRET_KEY }, { type: p.CKA_KEY_TYPE, value: p.CKK_AES }, { type: p.CKA_VALUE_LEN, value: 32 },
          { type: p.CKA_LABEL, value: t.uri.object }, { type: p.CKA_TOKEN, value: true }, { type: p.CKA_PRIVATE, value: true },
          { type: p.CKA_SENSITIVE, value: true }, { type: p.CKA_EXTRACTABLE, value: false },
          { type: p.CKA_ENCRYPT, value: true }, { type: p.CKA_DECRYPT, value: true },
        ]);
      }
      if (key === undefined) throw new EscrowError(`the PKCS#11 token "${t.uri.token}" has no AES key labelled "${t.uri.object}"; nothing was changed`, 'ESCROW_TOKEN');
      return new Pkcs11Kek(t, key);
    } catch (err) {
      t.close();
      throw err;
    }
  }

  private gcm(encrypt: boolean, iv: Buffer, data: Buffer, aad: Buffer): Buffer {
    const p = this.t.p;
    const mech = { mechanism: p.CKM_AES_GCM, parameter: { type: p.CK_PARAMS_AES_GCM, iv, ivBits: 96, aad, tagBits: 128 } as P.GcmParams };
    const out = Buffer.alloc(data.length + 16);
    if (encrypt) {
      this.t.lib.C_EncryptInit(this.t.session, mech, this.key);
      return Buffer.from(this.t.lib.C_Encrypt(this.t.session, data, out));
    }
    this.t.lib.C_DecryptInit(this.t.session, mech, this.key);
    return Buffer.from(this.t.lib.C_Decrypt(this.t.session, data, out));
  }

  async wrap(dataKey: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
    const iv = randomBytes(12);
    return Buffer.concat([iv, this.gcm(true, iv, Buffer.from(dataKey), Buffer.from(aad))]);
  }

  async unwrap(wrapped: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
    const bad = () => new EscrowError(`a data key does not unwrap with key-encryption key ${this.id}: the record was altered or moved; nothing was changed`, 'ESCROW_TAMPERED');
    if (wrapped.length < 12 + 16) throw bad();
    try {
      return new Uint8Array(this.gcm(false, Buffer.from(wrapped.subarray(0, 12)), Buffer.from(wrapped.subarray(12)), Buffer.from(aad)));
    } catch {
      throw bad();
    }
  }

  async close(): Promise<void> { this.t.close(); }
}

export async function openPkcs11Kek(uri: string, opts: { create?: boolean } = {}): Promise<Pkcs11Kek> {
  return Pkcs11Kek.open(uri, opts);
}

// HSM-side verification (docs/deployment.md): device keys loaded from the escrow into a PKCS#11
// token as non-extractable HMAC keys (CKK_GENERIC_SECRET, sensitive, sign/verify only), so a
// verifier process checks attestations and SAS tokens with CKM_SHA256_HMAC inside the token and
// never holds key bytes. Loading is done once, where the escrow is opened; verifying needs only the
// token. The checks after the MAC are the same as host/verify.ts makes with a key in memory.
import type * as P from 'pkcs11js';
import { abytes, buildTranscript, KEY_SLOTS, MAC_SIZE, parseSasToken, sasStringToSign, toHex } from '../../protocol/index.js';
import type { AttestResponse } from '../../protocol/index.js';
import { EscrowError, VerificationError } from '../errors.js';
import { wipe } from '../keys.js';
import { parseDeviceId } from '../../protocol/deviceid.js';
import { checkAttestationClaims, checkTokenClaims, type Policy, type VerifiedAttestation, type VerifiedToken, type VerifyTokenOptions } from '../verify.js';
import { TokenSession } from './pkcs11.js';
import { type EscrowStore } from './store.js';
import { blockName, keyBytes } from '../../protocol/keyblock.js';

const labelOf = (deviceId: string, block: string) => `efa-hmac:${deviceId}:${block}`;

export class HsmKeyring {
  private readonly handles = new Map<string, P.Handle>();
  private constructor(private readonly t: TokenSession) {}

  /** Opens the token named by a pkcs11: URI (token=…; the object attribute is not used). */
  static open(uri: string): HsmKeyring {
    return new HsmKeyring(TokenSession.open(uri, { object: false }));
  }

  /** The token's key for (device, block), or undefined. */
  private handle(deviceId: string, block: string): P.Handle | undefined {
    const label = labelOf(deviceId, block);
    let h = this.handles.get(label);
    if (h === undefined) {
      h = this.t.find(label, this.t.p.CKK_GENERIC_SECRET);
      if (h !== undefined) this.handles.set(label, h);
    }
    return h;
  }

  has(deviceId: string, block: string): boolean {
    return this.handle(parseDeviceId(deviceId), blockName(block)) !== undefined;
  }

  /** Puts one key into the token (non-extractable); an existing key for the same device and block is kept. */
  importKey(deviceId: string, block: string, key: Uint8Array): boolean {
    const id = parseDeviceId(deviceId);
    const b = blockName(block);
    keyBytes(key, 'key');
    if (this.handle(id, b) !== undefined) return false;
    const p = this.t.p;
    const value = Buffer.from(key);
    try {
      const h = this.t.lib.C_CreateObject(this.t.session, [
        { type: p.CKA_CLASS, value: p.CKO_SECRET_KEY }, { type: p.CKA_KEY_TYPE, value: p.CKK_GENERIC_SECRET },
        { type: p.CKA_VALUE, value }, { type: p.CKA_LABEL, value: labelOf(id, b) }, { type: p.CKA_TOKEN, value: true },
        { type: p.CKA_PRIVATE, value: true }, { type: p.CKA_SENSITIVE, value: true }, { type: p.CKA_EXTRACTABLE, value: false },
        { type: p.CKA_SIGN, value: true }, { type: p.CKA_VERIFY, value: true }, { type: p.CKA_ENCRYPT, value: false }, { type: p.CKA_DECRYPT, value: false },
      ]);
      this.handles.set(labelOf(id, b), h);
      return true;
    } catch (err) {
      throw new EscrowError(`cannot put the key of device ${id} ${b} into the PKCS#11 token: ${/CKR_[A-Z_]+/.exec(String(err))?.[0] ?? 'token error'}`, 'ESCROW_TOKEN');
    } finally {
      value.fill(0);
    }
  }

  /** Loads the keys of every burned or verified record (or of `only`) from the escrow; returns how many were new. */
  async load(store: EscrowStore, only?: { deviceId: string; block: string }[]): Promise<number> {
    let n = 0;
    const list = only ?? (await store.list()).filter((e) => e.state !== 'escrowed');
    for (const e of list) {
      const rec = await store.get(e.deviceId, e.block);
      if (!rec) continue;
      try {
        if (this.importKey(rec.deviceId, rec.block, rec.key)) n++;
      } finally {
        wipe(rec.key);
      }
    }
    return n;
  }

  /** HMAC-SHA256 verification inside the token; false for a wrong MAC. */
  verifyMac(deviceId: string, block: string, message: Uint8Array, mac: Uint8Array): boolean {
    const id = parseDeviceId(deviceId);
    const b = blockName(block);
    const h = this.handle(id, b);
    if (h === undefined) throw new VerificationError('KEY', `the token holds no key for device ${id} ${b}`);
    if (mac.length !== 32) return false;
    try {
      this.t.lib.C_VerifyInit(this.t.session, { mechanism: this.t.p.CKM_SHA256_HMAC }, h);
      return this.t.lib.C_Verify(this.t.session, Buffer.from(message), Buffer.from(mac));
    } catch (err) {
      if (/CKR_SIGNATURE_INVALID|CKR_SIGNATURE_LEN_RANGE/.test(String(err))) return false;
      throw new EscrowError(`the PKCS#11 token could not verify: ${/CKR_[A-Z_]+/.exec(String(err))?.[0] ?? 'token error'}`, 'ESCROW_TOKEN');
    }
  }

  /** As verifyAttestation (host/verify.ts), with the MAC checked in the token under the key of the answer's device and slot. */
  verifyAttestation(att: { nonce: Uint8Array; response: AttestResponse }, opts: { deviceId?: Uint8Array | string; slot?: number; policy?: Partial<Policy> } = {}): VerifiedAttestation {
    const r = att.response;
    if (r.slot >= KEY_SLOTS) throw new VerificationError('PURPOSE', `key slot ${r.slot} does not exist`);
    const id = toHex(r.deviceId);
    const mac = abytes(r.mac, 'response.mac', MAC_SIZE, MAC_SIZE);
    if (!this.verifyMac(id, `BLOCK_KEY${r.slot}`, buildTranscript(r, att.nonce), mac)) {
      throw new VerificationError('MAC', `attestation MAC does not verify for device ${id}: wrong key, wrong nonce, or altered answer`);
    }
    return checkAttestationClaims(r, opts.deviceId, opts.slot, opts.policy);
  }

  /** As verifyToken (host/verify.ts), with the signature checked in the token under the key of (deviceId, block). */
  verifyToken(token: string, opts: { deviceId: string; block: string } & Omit<VerifyTokenOptions, 'key' | 'deviceId'>): VerifiedToken {
    let t;
    try {
      t = parseSasToken(token);
    } catch (err) {
      throw new VerificationError('FORMAT', `token is malformed: ${(err as Error).message}`);
    }
    if (!this.verifyMac(opts.deviceId, opts.block, sasStringToSign(t.resource, t.expiry), t.signature)) {
      throw new VerificationError('SIGNATURE', 'token signature does not verify with this key');
    }
    // The device id names the key here (and need not appear in the resource): the claims without it.
    const { deviceId: _id, block: _block, ...claims } = opts;
    return checkTokenClaims(t, claims);
  }

  close(): void { this.t.close(); }
}


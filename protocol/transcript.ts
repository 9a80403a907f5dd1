// The attestation transcript (docs/protocol.md §5): the exact bytes the device's eFuse key MACs.
// It starts with a fixed non-printable domain tag, so it can never equal a token's printable
// string-to-sign (§7), and it binds the protocol version, the device id, the host's nonce, the
// device's fresh nonce, the key slot and the device's security state. Variable-length fields are
// length-prefixed, so the encoding is injective: two different states never give the same bytes.
import { abytes, aint, astring, utf8Encode } from './bytes.js';
import { KEY_SLOTS } from './keyblock.js';
import {
  type AttestResponse, DEVICE_ID_SIZE, DEVICE_NONCE_SIZE, FIRMWARE_ID_SIZE, keyFlags,
  MAX_FIRMWARE_VERSION, NONCE_MAX, NONCE_MIN, securityFlags, VERSION,
} from './messages.js';

/** "\0\xEFATTEST": 0x00 and 0xEF are never in printable text. */
export const ATTEST_TAG = Uint8Array.of(0x00, 0xef, 0x41, 0x54, 0x54, 0x45, 0x53, 0x54);

export type TranscriptFields = Omit<AttestResponse, 'mac'>;

/** Largest transcript: tag, version, fixed fields, 32-byte version string, 64-byte nonce. */
export const MAX_TRANSCRIPT = ATTEST_TAG.length + 1 + 1 + 2 + DEVICE_ID_SIZE + 4 + FIRMWARE_ID_SIZE + 1 + MAX_FIRMWARE_VERSION + 1 + NONCE_MAX + DEVICE_NONCE_SIZE;

function check(fields: TranscriptFields, hostNonce: Uint8Array): void {
  abytes(hostNonce, 'hostNonce', NONCE_MIN, NONCE_MAX);
  aint(fields.chip, 'chip', 0, 255);
  aint(fields.revision, 'revision', 0, 0xffff);
  abytes(fields.deviceId, 'deviceId', DEVICE_ID_SIZE, DEVICE_ID_SIZE);
  aint(fields.slot, 'slot', 0, KEY_SLOTS - 1);
  aint(fields.purpose, 'purpose', 0, 255);
  abytes(fields.firmwareId, 'firmwareId', FIRMWARE_ID_SIZE, FIRMWARE_ID_SIZE);
  abytes(fields.deviceNonce, 'deviceNonce', DEVICE_NONCE_SIZE, DEVICE_NONCE_SIZE);
  astring(fields.firmwareVersion, 'firmwareVersion');
}

/**
 * Writes the firmware version, length-prefixed, at out[o]; returns the offset after it. ASCII (what
 * versions are) is copied character by character, with no intermediate array: a verifier writes a
 * transcript per answer.
 */
function writeVersion(s: string, out: Uint8Array, o: number): number {
  const n = s.length;
  if (n <= MAX_FIRMWARE_VERSION) {
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 0x7f) break;
      out[o + 1 + i] = c;
    }
    if (i === n) { out[o] = n; return o + 1 + n; }
  }
  const version = utf8Encode(s);
  if (version.length > MAX_FIRMWARE_VERSION) throw new RangeError(`firmwareVersion must be at most ${MAX_FIRMWARE_VERSION} bytes`);
  out[o] = version.length;
  out.set(version, o + 1);
  return o + 1 + version.length;
}

/**
 * Writes the transcript into `out` (at least MAX_TRANSCRIPT bytes) and returns its length. Lets a
 * verifier reuse one buffer instead of allocating per answer.
 */
export function writeTranscript(fields: TranscriptFields, hostNonce: Uint8Array, out: Uint8Array): number {
  check(fields, hostNonce);
  let o = 0;
  out.set(ATTEST_TAG, o); o += ATTEST_TAG.length;
  out[o++] = VERSION;
  out[o++] = fields.chip;
  out[o++] = fields.revision & 255;
  out[o++] = fields.revision >> 8;
  out.set(fields.deviceId, o); o += DEVICE_ID_SIZE;
  out[o++] = fields.slot;
  out[o++] = fields.purpose;
  out[o++] = keyFlags(fields);
  out[o++] = securityFlags(fields);
  out.set(fields.firmwareId, o); o += FIRMWARE_ID_SIZE;
  o = writeVersion(fields.firmwareVersion, out, o);
  out[o++] = hostNonce.length;
  out.set(hostNonce, o); o += hostNonce.length;
  out.set(fields.deviceNonce, o); o += DEVICE_NONCE_SIZE;
  return o;
}

export function buildTranscript(fields: TranscriptFields, hostNonce: Uint8Array): Uint8Array {
  const out = new Uint8Array(MAX_TRANSCRIPT);
  return out.slice(0, writeTranscript(fields, hostNonce, out));
}

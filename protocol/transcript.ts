// The attestation transcript (docs/protocol.md §5): the exact bytes the device's eFuse key MACs.
// It starts with a fixed non-printable domain tag, so it can never equal a token's printable
// string-to-sign (§7), and it binds the protocol version, the device id, the host's nonce, the
// device's fresh nonce, the key slot and the device's security state. Variable-length fields are
// length-prefixed, so the encoding is injective: two different states never give the same bytes.
import { abytes, aint, utf8Encode, Writer } from './bytes.js';
import {
  type AttestResponse, DEVICE_ID_SIZE, DEVICE_NONCE_SIZE, FIRMWARE_ID_SIZE, KEY_SLOTS, keyFlags,
  MAX_FIRMWARE_VERSION, NONCE_MAX, NONCE_MIN, securityFlags, VERSION,
} from './messages.js';

/** "\0\xEFATTEST": 0x00 and 0xEF are never in printable text. */
export const ATTEST_TAG = Uint8Array.of(0x00, 0xef, 0x41, 0x54, 0x54, 0x45, 0x53, 0x54);

export type TranscriptFields = Omit<AttestResponse, 'mac'>;

export function buildTranscript(fields: TranscriptFields, hostNonce: Uint8Array): Uint8Array {
  abytes(hostNonce, 'hostNonce', NONCE_MIN, NONCE_MAX);
  aint(fields.chip, 'chip', 0, 255);
  aint(fields.revision, 'revision', 0, 0xffff);
  abytes(fields.deviceId, 'deviceId', DEVICE_ID_SIZE, DEVICE_ID_SIZE);
  aint(fields.slot, 'slot', 0, KEY_SLOTS - 1);
  aint(fields.purpose, 'purpose', 0, 255);
  abytes(fields.firmwareId, 'firmwareId', FIRMWARE_ID_SIZE, FIRMWARE_ID_SIZE);
  abytes(fields.deviceNonce, 'deviceNonce', DEVICE_NONCE_SIZE, DEVICE_NONCE_SIZE);
  const version = utf8Encode(fields.firmwareVersion);
  if (version.length > MAX_FIRMWARE_VERSION) throw new RangeError(`firmwareVersion must be at most ${MAX_FIRMWARE_VERSION} bytes`);
  return new Writer()
    .bytes(ATTEST_TAG)
    .u8(VERSION)
    .u8(fields.chip)
    .u16(fields.revision)
    .bytes(fields.deviceId)
    .u8(fields.slot)
    .u8(fields.purpose)
    .u8(keyFlags(fields))
    .u8(securityFlags(fields))
    .bytes(fields.firmwareId)
    .lbytes(version)
    .lbytes(hostNonce)
    .bytes(fields.deviceNonce)
    .finish();
}

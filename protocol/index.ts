// efuse-attest wire protocol v1: portable TypeScript (Uint8Array/DataView only) shared by the host
// (Node) and the device (Moddable XS). docs/protocol.md is the normative description.
export { abytes, aint, concat, equalBytes, fromBase64, fromHex, MalformedError, toBase64, toHex, utf8Decode, utf8Encode } from './bytes.js';
export { crc32 } from './crc32.js';
export { encodeFrame, FrameDecoder, MAX_PAYLOAD, MAX_FRAME, MAX_LOG_LINE } from './frame.js';
export type { FrameEvent, FrameErrorReason, DecoderStats } from './frame.js';
export {
  ATTEST_SLOT, DEVICE_ID_SIZE, DEVICE_NONCE_SIZE, FIRMWARE_ID_SIZE, MAC_SIZE, MAX_DETAIL, MAX_FIRMWARE_VERSION, MAX_KEY_NAME,
  MAX_PING, MAX_RESOURCE, MAX_TOKEN, MsgType, NONCE_MAX, NONCE_MIN, TOKEN_SLOT, VERSION,
  decodeHeader, decodeRequest, decodeResponse, encodeRequest, encodeResponse, keyFlags, securityFlags,
} from './messages.js';
export type { AttestResponse, DeviceInfo, DeviceState, KeyBlockInfo, Request, Response } from './messages.js';
export { blockName, blockSlot, KEY_SIZE, KEY_SLOTS, keyBytes, keySlot } from './keyblock.js';
export { ATTEST_TAG, buildTranscript, MAX_TRANSCRIPT, writeTranscript } from './transcript.js';
export type { TranscriptFields } from './transcript.js';
export { checkKeyName, checkResource, formatSasToken, parseSasToken, percentEncode, sasStringToSign } from './sas.js';
export type { SasToken } from './sas.js';
export { ESP_ERR, espErrName, Status, STATUS_TEXT, statusName } from './status.js';
export type { StatusName } from './status.js';
export {
  CHIP_TABLE, CHIPS, chipCode, chipName, chipsWith, hasHmacPeripheral, PURPOSE_HMAC_UP, PURPOSES, purposeName, requireChip,
  UnsupportedChipError,
} from './chips.js';
export type { Chip, ChipName, ChipNeed } from './chips.js';
export { DEVICE_ID_BYTES, deviceIdToBytes, parseDeviceId } from './deviceid.js';

// Device status codes, defined once (docs/protocol.md §6). The device sends them in ERROR messages;
// the host turns them into typed DeviceError values. ESP-IDF error numbers travel beside them.

export const Status = Object.freeze({
  BAD_VERSION: 0x0001,
  UNKNOWN_TYPE: 0x0002,
  MALFORMED: 0x0003,
  BAD_NONCE: 0x0004,
  BAD_SLOT: 0x0005,
  NO_HMAC: 0x0006,
  KEY_PURPOSE: 0x0007,
  HMAC_FAILED: 0x0008,
  EFUSE_READ: 0x0009,
  BAD_RESOURCE: 0x000a,
  BAD_EXPIRY: 0x000b,
  INTERNAL: 0x000c,
  KEY_ROLE: 0x000d,
} as const);

export type StatusName = keyof typeof Status;

export const STATUS_TEXT: Readonly<Record<StatusName, string>> = Object.freeze({
  BAD_VERSION: 'unsupported protocol version',
  UNKNOWN_TYPE: 'unknown message type',
  MALFORMED: 'malformed message body',
  BAD_NONCE: 'host nonce must be 16..64 bytes',
  BAD_SLOT: 'key slot must be 0..5',
  NO_HMAC: 'this chip has no HMAC peripheral',
  KEY_PURPOSE: 'key block purpose is not HMAC_UP (esp_hmac_calculate returned ESP_FAIL)',
  HMAC_FAILED: 'esp_hmac_calculate failed',
  EFUSE_READ: 'eFuse read failed',
  BAD_RESOURCE: 'token resource must be 1..256 bytes of printable text',
  BAD_EXPIRY: 'token expiry must be 1..4294967295 seconds since the epoch',
  INTERNAL: 'internal device error',
  KEY_ROLE: 'key block has the other role (attestation or cloud token)',
});

export function statusName(code: number): StatusName | 'UNKNOWN' {
  for (const k of Object.keys(Status) as StatusName[]) if (Status[k] === code) return k;
  return 'UNKNOWN';
}

/** ESP-IDF esp_err_t values the device reports (esp_err.h). */
export const ESP_ERR = Object.freeze({
  ESP_OK: 0,
  ESP_FAIL: -1,
  ESP_ERR_NO_MEM: 0x101,
  ESP_ERR_INVALID_ARG: 0x102,
  ESP_ERR_INVALID_STATE: 0x103,
  ESP_ERR_INVALID_SIZE: 0x104,
  ESP_ERR_NOT_FOUND: 0x105,
  ESP_ERR_NOT_SUPPORTED: 0x106,
  ESP_ERR_TIMEOUT: 0x107,
  ESP_ERR_NOT_ALLOWED: 0x10d,
} as const);

export function espErrName(code: number): string {
  for (const [k, v] of Object.entries(ESP_ERR)) if (v === code) return k;
  return `0x${(code >>> 0).toString(16)}`;
}

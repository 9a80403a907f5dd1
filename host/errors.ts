// Typed errors of the host library and CLI. Each class carries a stable `code` (for --json and
// programs) and the CLI exit code it maps to, so callers branch on types, not on message text.
// Messages never contain key bytes.

/** CLI exit codes, documented in `efuse-attest --help`. */
export const EXIT = Object.freeze({
  OK: 0,
  FAILURE: 1,
  USAGE: 2,
  VERIFY: 3,
  DEVICE: 4,
  TRANSPORT: 5,
  ESCROW: 6,
  ESPEFUSE: 7,
  ABORTED: 8,
  STORE: 9,
} as const);

export class EfuseAttestError extends Error {
  readonly code: string;
  readonly exitCode: number;
  constructor(message: string, code = 'FAILURE', exitCode: number = EXIT.FAILURE, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.exitCode = exitCode;
  }
}

/** Bad command line or bad argument to a library call that is not a plain type/range error. */
export class UsageError extends EfuseAttestError {
  constructor(message: string) { super(message, 'USAGE', EXIT.USAGE); }
}

/** An attestation or token did not verify, or the device's reported state fails the policy. */
export class VerificationError extends EfuseAttestError {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message, 'VERIFY_' + reason, EXIT.VERIFY);
    this.reason = reason;
  }
}

/** The device, or the key in one of its blocks, is revoked (reason REVOKED, code VERIFY_REVOKED). */
export class RevokedError extends VerificationError {
  readonly deviceId: string;
  readonly block: string;
  constructor(deviceId: string, block: string, message: string) {
    super('REVOKED', message);
    this.deviceId = deviceId;
    this.block = block;
  }
}

/** The codes a StoreError carries. All exit with EXIT.STORE. */
export const STORE_CODES = Object.freeze({
  STORE_UNAVAILABLE: 'the store is unreachable or too slow',
  STORE_CORRUPT: 'the store gave an answer that does not parse, or lost entries',
  STORE_FULL: 'the store refused a write: it is full',
  STORE_CONFIG: 'the store is configured in a way verification cannot rely on',
} as const);
export type StoreCode = keyof typeof STORE_CODES;

/**
 * A verifier's store (nonce or revocation) could not answer: unreachable, too slow, or full. The
 * verification it was for is refused, never accepted; `store` names the store and its address.
 */
export class StoreError extends EfuseAttestError {
  declare readonly code: StoreCode;
  readonly store: string;
  constructor(store: string, message: string, code: StoreCode = 'STORE_UNAVAILABLE', options?: { cause?: unknown }) {
    super(message, code, EXIT.STORE, options);
    this.store = store;
  }
}

/** The device answered with an ERROR message (docs/protocol.md §6). */
export class DeviceError extends EfuseAttestError {
  readonly status: number;
  readonly statusName: string;
  readonly espErr: number;
  readonly detail: string;
  constructor(status: number, statusName: string, espErr: number, detail: string) {
    super(`device error ${statusName}${detail ? ': ' + detail : ''}`, 'DEVICE_' + statusName, EXIT.DEVICE);
    this.status = status;
    this.statusName = statusName;
    this.espErr = espErr;
    this.detail = detail;
  }
}

/** The codes a ProtocolError carries. All exit with EXIT.DEVICE. */
export const PROTOCOL_CODES = Object.freeze({
  PROTOCOL_ANSWER: 'the device answered something other than what was asked (type, slot, echo)',
  PROTOCOL_ENTROPY: 'the device\'s random bytes are all zeros: its random source is not working',
} as const);
export type ProtocolCode = keyof typeof PROTOCOL_CODES;

/** The device answered against the protocol: a well-formed frame that is not the answer asked for. */
export class ProtocolError extends EfuseAttestError {
  declare readonly code: ProtocolCode;
  constructor(message: string, code: ProtocolCode = 'PROTOCOL_ANSWER') { super(message, code, EXIT.DEVICE); }
}

/** The link failed: port missing, closed, unplugged. */
export class TransportError extends EfuseAttestError {
  constructor(message: string, options?: { cause?: unknown }) { super(message, 'TRANSPORT', EXIT.TRANSPORT, options); }
}

/** No answer within the time and retry budget. */
export class TimeoutError extends EfuseAttestError {
  constructor(message: string) { super(message, 'TIMEOUT', EXIT.TRANSPORT); }
}

/**
 * The codes an EscrowError carries (docs/provisioning.md §3), for programs that branch on --json output.
 * All exit with EXIT.ESCROW.
 */
export const ESCROW_CODES = Object.freeze({
  ESCROW_PASSPHRASE: 'wrong passphrase (or an altered vault header)',
  ESCROW_TAMPERED: 'the vault or a sealed key was altered or damaged',
  ESCROW_FORMAT: 'not a vault, or a format this version does not read',
  ESCROW_ROLLBACK: 'an older vault generation than one already written here',
  ESCROW_CONFLICT: 'a different key is already escrowed for this device and block',
  ESCROW_CHIP_MISMATCH: 'the escrow holds this device as another chip model',
  ESCROW_POSSIBLE_CLONE: 'the escrow says this device was burned, but its fuses are blank: possibly a clone',
  ESCROW_MISSING: 'no record for this device and block',
  ESCROW_AMBIGUOUS: 'the device has several records: name the block',
  ESCROW_READBACK: 'written but not read back as written: do not burn',
  ESCROW_LOCKED: 'the vault is locked by a live process',
  ESCROW_BUSY: 'another station is working on this device',
  ESCROW_KEK: 'the store is wrapped by another key-encryption key',
  ESCROW_PIN: 'the PKCS#11 token PIN is wrong, locked or missing',
  ESCROW_TOKEN: 'the PKCS#11 module, token or key is missing',
  ESCROW_IO: 'an I/O or database error; nothing was changed',
} as const);
export type EscrowCode = keyof typeof ESCROW_CODES;

/** Escrow store: wrong passphrase, tampered vault, missing record, I/O failure (ESCROW_CODES). */
export class EscrowError extends EfuseAttestError {
  declare readonly code: EscrowCode;
  constructor(message: string, code: EscrowCode, options?: { cause?: unknown }) { super(message, code, EXIT.ESCROW, options); }
}

/** The codes an AuditError carries. All exit with EXIT.ESCROW: the audit log is part of the escrow's record. */
export const AUDIT_CODES = Object.freeze({
  AUDIT_IO: 'the audit log could not be written or read',
  AUDIT_TAMPERED: 'the audit chain is broken',
} as const);
export type AuditCode = keyof typeof AUDIT_CODES;

/** The provisioning audit log could not be written or read, or its hash chain is broken. */
export class AuditError extends EfuseAttestError {
  declare readonly code: AuditCode;
  constructor(message: string, code: AuditCode, options?: { cause?: unknown }) { super(message, code, EXIT.ESCROW, options); }
}

/** The codes an EspefuseError carries (docs/provisioning.md). All exit with EXIT.ESPEFUSE. */
export const ESPEFUSE_CODES = Object.freeze({
  ESPEFUSE_MISSING: 'espefuse is not installed where it was looked for',
  ESPEFUSE_FAILED: 'espefuse failed',
  ESPEFUSE_TIMEOUT: 'espefuse did not finish in time',
  ESPEFUSE_EXITED: 'the espefuse session ended (its process died) before it answered',
  ESPEFUSE_OUTPUT: 'espefuse printed something this version does not read',
  ESPEFUSE_NO_IMAGE: 'the virtual chip\'s eFuse image is missing',
  ESPEFUSE_NO_HMAC: 'the chip has no HMAC peripheral',
  ESPEFUSE_BLOCK: 'the key block does not exist on this chip',
  BLOCK_USED: 'the key block already holds a key',
  PURPOSE_LOCKED: 'the key block\'s purpose is write-protected',
  RD_DIS_LOCKED: 'read protection can no longer be set: the read-disable field is write-protected',
  BURN_UNCONFIRMED: 'the fuses do not show the key burned as asked',
  BLOCK_STATE: 'the key block is in a state provisioning does not touch (burned, but not as an HMAC_UP read-protected key)',
  NO_DEVICE_ID: 'the factory MAC reads as all zeros: the device has no id',
  CHIP_EXISTS: 'a virtual chip already exists there',
  CHIP_MISMATCH: 'the chip is another model than the one named',
  SILICON_FORMAT: 'the virtual chip\'s silicon file does not parse',
  SILICON_IO: 'the virtual chip\'s silicon file could not be read or written',
} as const);
export type EspefuseCode = keyof typeof ESPEFUSE_CODES;

/** espefuse missing, failed, or its result did not show what was asked (ESPEFUSE_CODES). */
export class EspefuseError extends EfuseAttestError {
  declare readonly code: EspefuseCode;
  constructor(message: string, code: EspefuseCode, options?: { cause?: unknown }) { super(message, code, EXIT.ESPEFUSE, options); }
}

/** The user declined an irreversible action. */
export class AbortedError extends EfuseAttestError {
  constructor(message: string) { super(message, 'ABORTED', EXIT.ABORTED); }
}

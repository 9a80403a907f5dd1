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

/**
 * A verifier's store (nonce or revocation) could not answer: unreachable, too slow, or full. The
 * verification it was for is refused, never accepted; `store` names the store and its address.
 */
export class StoreError extends EfuseAttestError {
  readonly store: string;
  constructor(store: string, message: string, code = 'STORE_UNAVAILABLE', options?: { cause?: unknown }) {
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
  ESCROW_MISSING: 'no record for this device and block',
  ESCROW_AMBIGUOUS: 'the device has several records: name the block',
  ESCROW_READBACK: 'written but not read back as written: do not burn',
  ESCROW_LOCKED: 'the vault is locked by a live process',
  ESCROW_BUSY: 'another station is working on this device',
  ESCROW_KEK: 'the store is wrapped by another key-encryption key',
  ESCROW_PIN: 'the PKCS#11 token PIN is wrong, locked or missing',
  ESCROW_TOKEN: 'the PKCS#11 module, token or key is missing',
  ESCROW_IO: 'an I/O or database error; nothing was changed',
  AUDIT_IO: 'the audit log could not be written or read',
  AUDIT_TAMPERED: 'the audit chain is broken',
} as const);

/** Escrow store: wrong passphrase, tampered vault, missing record, I/O failure (ESCROW_CODES). */
export class EscrowError extends EfuseAttestError {
  constructor(message: string, code = 'ESCROW', options?: { cause?: unknown }) { super(message, code, EXIT.ESCROW, options); }
}

/** espefuse missing, failed, or its result did not show what was asked. */
export class EspefuseError extends EfuseAttestError {
  constructor(message: string, code = 'ESPEFUSE', options?: { cause?: unknown }) { super(message, code, EXIT.ESPEFUSE, options); }
}

/** The user declined an irreversible action. */
export class AbortedError extends EfuseAttestError {
  constructor(message: string) { super(message, 'ABORTED', EXIT.ABORTED); }
}

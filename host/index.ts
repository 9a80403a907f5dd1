// efuse-attest host library: talk to a device over serial, challenge it, verify the answer.
// The public surface is exactly what is exported here (package.json "exports": ".").
export { Client, type OpenOptions } from './client.js';
export { Session, type SessionOptions, type SessionStats } from './session.js';
export type { Transport } from './transport/transport.js';
export { SerialTransport, DEFAULT_BAUD, type SerialOptions } from './transport/serial.js';
export { MemoryTransport } from './transport/memory.js';
export type { Attestation, AttestOptions } from './requests/attest.js';
export type { TokenOptions } from './requests/token.js';
export type { PingResult } from './requests/ping.js';
export {
  verifyAttestation, verifyMany, verifyToken, DEFAULT_POLICY, VerifiedAttestation, type AttestationToVerify, type Policy, type VerifiedToken,
  type VerifyAttestationOptions, type VerifyTokenOptions,
} from './verify.js';
export { attestationFromJson, attestationToJson, type AttestationJson } from './serialize.js';
export { listPorts, type PortEntry } from './ports.js';
export { CHIP_TABLE, chipsWith, requireChip, UnsupportedChipError, type Chip, type ChipNeed } from '../protocol/chips.js';
export {
  AbortedError, AuditError, DeviceError, EfuseAttestError, EscrowError, EspefuseError, EXIT, ProtocolError, RevokedError, StoreError, TimeoutError,
  TransportError, UsageError, VerificationError,
} from './errors.js';
export type { AuditCode, EscrowCode, EspefuseCode, ProtocolCode, StoreCode } from './errors.js';

// efuse-attest/provision: provisioning for programs beyond the CLI — a factory station or test rig
// that reads, escrows, burns and challenges devices itself (docs/provisioning.md). The eFuse side is
// an EfuseController: a board on a serial port (PortEfuse), a virtual chip (VirtualChipEfuse), or the
// rig's own implementation of the interface.
export { provisionDevice, STEPS, type ChallengeFn, type ChallengeTarget, type Outcome, type ProvisionOptions, type ProvisionResult, type Step } from './sequence.js';
export { provisionBatch, MAX_PARALLEL, type BatchOptions } from './parallel.js';
export { defaultChallenge, type ChallengeOptions } from './challenge.js';
export { AuditLog, MemoryAudit, verifyAuditFile, type AuditEntry, type AuditOutcome, type AuditSink, type ChainReport } from './audit.js';
export { reportCsv, reportJson, writeReport, type Report } from './report.js';
export type { DeviceLink, EfuseController } from '../efuse/controller.js';
export { PortEfuse, type PortOptions } from '../efuse/port.js';
export { VirtualChipEfuse, type VirtualChipOptions } from '../efuse/virtual-chip.js';
export { openController } from '../efuse/open.js';
export { checkBurnable } from '../efuse/preflight.js';
export { createVirtualChip, type CreateChipOptions, type CreatedChip } from '../espefuse/virtual.js';
export type { EspefuseOptions, EspefuseTarget } from '../espefuse/driver.js';
export type { EfuseKeyBlock, EfuseSummary } from '../espefuse/summary.js';
export { deriveKey, generateKey, wipe, type Derivation } from '../keys.js';

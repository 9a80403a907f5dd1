// The CLI's command table, in the order --help lists them: each command's name and summary, and how
// to load it. One file per command, imported only when that command runs or shows its help, so that
// `efuse-attest --help` or `verify` does not load the serial binding, PostgreSQL, Redis or PKCS#11
// code of commands it does not run (docs/performance.md §10). A test keeps each summary here equal
// to the command's own.
import type { Command } from '../command.js';

export interface CommandEntry {
  readonly name: string;
  readonly summary: string;
  load(): Promise<Command>;
}

export const commands: readonly CommandEntry[] = Object.freeze([
  { name: 'demo', summary: 'provision → boot → attest an emulated chip end to end (espefuse, XS emulator, serialport)', load: async () => (await import('./demo.js')).demo },
  { name: 'list', summary: 'list serial ports, marking likely ESP32 USB bridges', load: async () => (await import('./list.js')).list },
  { name: 'info', summary: 'show the device id, chip, security state and eFuse key blocks', load: async () => (await import('./info.js')).info },
  { name: 'ping', summary: 'check that the attestation service answers', load: async () => (await import('./ping.js')).ping },
  { name: 'attest', summary: 'challenge a device with a fresh nonce (and verify with --key)', load: async () => (await import('./attest.js')).attest },
  { name: 'verify', summary: 'verify a saved attestation (from attest --out) or a SAS token with the escrowed key', load: async () => (await import('./verify.js')).verify },
  { name: 'token', summary: 'have the device sign a SAS token (Azure IoT style) for a resource', load: async () => (await import('./token.js')).token },
  { name: 'emulate', summary: 'run an emulated device (the firmware on XS) on a pseudo-terminal until Ctrl-C', load: async () => (await import('./emulate.js')).emulate },
  { name: 'keygen', summary: 'make a 32-byte device key file (random, or derived from a master)', load: async () => (await import('./keygen.js')).keygen },
  { name: 'escrow', summary: 'the key vault: add, import, list, export escrowed device keys', load: async () => (await import('./escrow.js')).escrow },
  { name: 'provision', summary: 'generate, escrow, burn (HMAC_UP, read-protected) and verify device keys', load: async () => (await import('./provision.js')).provision },
  { name: 'revoke', summary: 'revoke a device key block for every verifier of a cluster; remove or list revocations', load: async () => (await import('./revoke.js')).revoke },
  { name: 'audit', summary: 'verify the hash chain of the audit log (and of the escrow database\'s audit table)', load: async () => (await import('./audit.js')).audit },
  { name: 'chip', summary: 'make or inspect a virtual chip (an espefuse eFuse image + its silicon side file)', load: async () => (await import('./chip.js')).chip },
].map((e) => Object.freeze(e)));

// The CLI's command table, in the order --help lists them. One file per command.
import type { Command } from '../command.js';
import { attest } from './attest.js';
import { audit } from './audit.js';
import { chip } from './chip.js';
import { demo } from './demo.js';
import { emulate } from './emulate.js';
import { escrow } from './escrow.js';
import { info } from './info.js';
import { keygen } from './keygen.js';
import { list } from './list.js';
import { ping } from './ping.js';
import { provision } from './provision.js';
import { revoke } from './revoke.js';
import { token } from './token.js';
import { verify } from './verify.js';

export const commands: readonly Command[] = Object.freeze([
  demo,
  list,
  info,
  ping,
  attest,
  verify,
  token,
  emulate,
  keygen,
  escrow,
  provision,
  revoke,
  audit,
  chip,
]);

// The CLI's command table, in the order --help lists them. One file per command.
import type { Command } from '../command.js';

export const commands: readonly Command[] = Object.freeze([
]);

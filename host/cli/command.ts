// The shape of a CLI command. Commands are async functions that return data; main.ts is the single
// exit point that prints it (human text or --json) and maps errors to exit codes.
import type { ParseArgsConfig } from 'node:util';
import { UsageError } from '../errors.js';

export type Options = NonNullable<ParseArgsConfig['options']>;
export type Values = Record<string, string | boolean | string[] | boolean[] | undefined>;

export interface Context {
  readonly json: boolean;
  readonly debug: boolean;
  /** Human progress and notes go to stderr, so stdout stays clean for --json. */
  note(line: string): void;
  /** Progress of batch work: a bar on a TTY, a line per step otherwise; silent with --json. */
  progress(done: number, total: number, label: string): void;
  /** Ask the user to type `word` to go on; false without a TTY. */
  confirm(prompt: string, word: string): Promise<boolean>;
}

export interface Command {
  readonly name: string;
  readonly summary: string;
  /** Usage lines shown by `efuse-attest help <name>`. */
  readonly usage: string;
  readonly options: Options;
  readonly positionals?: boolean;
  run(values: Values, positionals: string[], ctx: Context): Promise<unknown>;
  /** Human rendering of the result; JSON when absent. */
  format?(result: any): string;
}

export function str(values: Values, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

export function int(values: Values, name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const v = str(values, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, got "${v}"`);
  }
  return n;
}

export function required(values: Values, name: string): string {
  const v = str(values, name);
  if (v === undefined || v === '') throw new UsageError(`--${name} is required`);
  return v;
}

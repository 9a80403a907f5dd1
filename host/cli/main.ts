// efuse-attest CLI: the single exit point. Parses the command line, runs one command, prints its
// result (text, or JSON with --json) and exits with a documented code. Errors are one sentence;
// stack traces only with --debug.
import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline/promises';
import { EfuseAttestError, EXIT, UsageError } from '../errors.js';
import type { Command, Context } from './command.js';
import { commands } from './commands/index.js';
import { printable, printableJson, printableLines } from './printable.js';

const GLOBAL = {
  json: { type: 'boolean' },
  debug: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function helpText(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'efuse-attest — hardware-rooted identity for ESP32 devices (eFuse HMAC attestation)',
    '',
    'Usage: efuse-attest <command> [options]      efuse-attest help <command>',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Global options: --json (machine-readable output on stdout), --debug (stack traces), --help',
    '',
    'Exit codes:',
    `  ${EXIT.OK} ok   ${EXIT.FAILURE} failure   ${EXIT.USAGE} bad usage   ${EXIT.VERIFY} verification failed`,
    `  ${EXIT.DEVICE} device error or protocol violation   ${EXIT.TRANSPORT} serial link or timeout   ${EXIT.ESCROW} escrow/keystore`,
    `  ${EXIT.ESPEFUSE} espefuse   ${EXIT.ABORTED} aborted by the user   ${EXIT.STORE} verifier store unreachable`,
  ].join('\n');
}

function commandHelp(c: Command): string {
  return `efuse-attest ${c.name} — ${c.summary}\n\n${c.usage}`;
}

function makeContext(json: boolean, debug: boolean): Context {
  const tty = process.stderr.isTTY === true;
  let lastLen = 0;
  return {
    json,
    debug,
    note(line) { if (!json) process.stderr.write(printableLines(line) + '\n'); },
    progress(done, total, label) {
      if (json) return;
      if (tty) {
        const w = 24;
        const fill = total > 0 ? Math.round((done / total) * w) : w;
        const line = `[${'#'.repeat(fill)}${'.'.repeat(w - fill)}] ${done}/${total} ${printable(label)}`;
        process.stderr.write('\r' + line.padEnd(lastLen));
        lastLen = line.length;
        if (done >= total) { process.stderr.write('\n'); lastLen = 0; }
      } else {
        process.stderr.write(`${done}/${total} ${printable(label)}\n`);
      }
    },
    async confirm(prompt, word) {
      if (!process.stdin.isTTY) return false;
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      try {
        const answer = await rl.question(`${prompt}\nType ${word} to continue: `);
        return answer.trim() === word;
      } finally {
        rl.close();
      }
    },
  };
}

function describe(err: unknown): { message: string; code: string; exit: number } {
  if (err instanceof EfuseAttestError) return { message: err.message, code: err.code, exit: err.exitCode };
  if (err instanceof TypeError || err instanceof RangeError) return { message: err.message, code: 'USAGE', exit: EXIT.USAGE };
  const e = err as { code?: unknown; message?: unknown };
  if (e && typeof e.code === 'string' && /^(ERR_PARSE_ARGS|ERR_INVALID_ARG)/.test(e.code)) {
    return { message: String(e.message), code: 'USAGE', exit: EXIT.USAGE };
  }
  return { message: err instanceof Error ? err.message : String(err), code: 'FAILURE', exit: EXIT.FAILURE };
}

export async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const debug = argv.includes('--debug');
  // Everything printed may carry device-supplied text: control characters are escaped (printable.ts).
  const out = (s: string) => { const t = json ? printableJson(s) : printableLines(s); process.stdout.write(t.endsWith('\n') ? t : t + '\n'); };
  try {
    const [name, ...rest] = argv.filter((a) => a !== '--json' && a !== '--debug');
    if (name === undefined || name === '--help' || name === '-h') { out(helpText()); return EXIT.OK; }
    if (name === 'help') {
      const c = commands.find((x) => x.name === rest[0]);
      out(c ? commandHelp(await c.load()) : helpText());
      return EXIT.OK;
    }
    if (name === '--version') { out('0.1.0'); return EXIT.OK; }
    const entry = commands.find((c) => c.name === name);
    if (!entry) {
      throw new UsageError(`unknown command "${name}"; run efuse-attest --help for the list`);
    }
    const command = await entry.load();
    const { values, positionals } = parseArgs({
      args: rest,
      options: { ...GLOBAL, ...command.options },
      allowPositionals: command.positionals === true,
      strict: true,
    });
    if (values.help) { out(commandHelp(command)); return EXIT.OK; }
    const result = await command.run(values as Record<string, string | boolean | undefined>, positionals, makeContext(json, debug));
    if (json) out(JSON.stringify({ ok: true, result }, jsonReplacer, 2));
    else if (command.format) out(command.format(result));
    else if (result !== undefined) out(JSON.stringify(result, jsonReplacer, 2));
    return EXIT.OK;
  } catch (err) {
    const d = describe(err);
    if (json) out(JSON.stringify({ ok: false, error: { code: d.code, message: d.message } }));
    else process.stderr.write(`efuse-attest: ${printable(d.message)}\n`);
    if (debug && err instanceof Error && err.stack) process.stderr.write(printableLines(err.stack) + '\n');
    return d.exit;
  }
}

/** Byte arrays print as hex in JSON output. */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex');
  if (typeof value === 'bigint') return value.toString();
  return value;
}

/**
 * A reader that goes away (`efuse-attest … | head`) is not an error of this program: EPIPE on stdout
 * or stderr ends the process quietly with the exit code it has so far, instead of a stack trace.
 */
export function quietOnBrokenPipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(typeof process.exitCode === 'number' ? process.exitCode : EXIT.OK);
      throw err;
    });
  }
}

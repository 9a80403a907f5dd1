// Options and helpers shared by the commands that talk to a device.
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { printable } from './printable.js';
import type { Client } from '../client.js';
import { DEFAULT_BAUD } from '../transport/transport.js';
import { type Options, int, required, str, type Context, type Values } from './command.js';

export const DEVICE_OPTIONS = {
  port: { type: 'string', short: 'p' },
  baud: { type: 'string', short: 'b' },
  timeout: { type: 'string' },
  retries: { type: 'string' },
} as const satisfies Options;

export const DEVICE_USAGE = `  --port, -p PATH   serial port (e.g. /dev/ttyUSB0, or the emulator's pty)
  --baud, -b N      baud rate (default ${DEFAULT_BAUD})
  --timeout MS      time to wait for each answer (default 1000)
  --retries N       extra tries after a timeout (default 2)`;

export async function openClient(values: Values, ctx: Context): Promise<Client> {
  // Loaded here, not at the top: commands that never open a port need not load the serial binding.
  const { Client } = await import('../client.js');
  return Client.open(required(values, 'port'), {
    baud: int(values, 'baud', DEFAULT_BAUD, 300, 5_000_000),
    timeoutMs: int(values, 'timeout', 1000, 1, 600_000),
    retries: int(values, 'retries', 2, 0, 100),
    onLog: (line) => { if (ctx.debug) ctx.note(`device: ${printable(line)}`); },
    onFrameError: (detail) => { if (ctx.debug) ctx.note(`dropped frame: ${printable(detail)}`); },
  });
}

/** Runs `fn` with an open client and always closes it. */
export async function withClient<T>(values: Values, ctx: Context, fn: (c: Client) => Promise<T>): Promise<T> {
  const client = await openClient(values, ctx);
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

/**
 * Reads a regular file, at most `max` bytes. Anything else — a FIFO, a device, a directory — is
 * refused before a byte is read: a FIFO would block forever, /dev/zero would never end. Opened
 * non-blocking and checked on the open descriptor, so the name cannot be swapped in between.
 */
export async function readRegularFile(path: string, what: string, max: number): Promise<Buffer> {
  let fh;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    throw new RangeError(`cannot read ${what} ${printable(path)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new RangeError(`${what} ${printable(path)} is not a regular file`);
    if (st.size > max) throw new RangeError(`${what} ${printable(path)} is larger than ${max} bytes`);
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

/** Reads a raw 32-byte key file (the format espefuse burn-key takes). */
export async function readKeyFile(path: string): Promise<Uint8Array> {
  const bytes = await readRegularFile(path, 'key file', 4096);
  if (bytes.length !== 32) throw new RangeError(`key file ${printable(path)} must hold exactly 32 bytes, it has ${bytes.length}`);
  return new Uint8Array(bytes);
}

/** --slot N (0..5); `fallback` when absent: 0 for attestations, 1 for tokens (the firmware's key roles). */
export function slotOption(values: Values, fallback = 0): number {
  return int(values, 'slot', fallback, 0, 5);
}

export { str };

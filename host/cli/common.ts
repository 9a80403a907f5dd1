// Options and helpers shared by the commands that talk to a device.
import { printable } from './printable.js';
import type { Client } from '../client.js';
import { DEFAULT_BAUD } from '../transport/transport.js';
import { type Options, int, required, str, type Context, type Values } from './command.js';
import { KEY_SLOTS } from '../../protocol/keyblock.js';

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


/** --slot N (0..KEY_SLOTS-1); `fallback` when absent: 0 for attestations, 1 for tokens (the firmware's key roles). */
export function slotOption(values: Values, fallback = 0): number {
  return int(values, 'slot', fallback, 0, KEY_SLOTS - 1);
}

export { str };

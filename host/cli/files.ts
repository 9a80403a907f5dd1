// Files named on the command line: read only when they are regular files of bounded size, and key
// files through one reader (exact size, read buffer wiped), so every command refuses the same things
// with the same messages.
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { KEY_SIZE } from '../../protocol/keyblock.js';
import { UsageError } from '../errors.js';
import { printable } from './printable.js';

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
    throw new UsageError(`cannot read ${what} ${printable(path)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new UsageError(`${what} ${printable(path)} is not a regular file`);
    if (st.size > max) throw new UsageError(`${what} ${printable(path)} is larger than ${max} bytes`);
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

/**
 * Reads a raw key file (KEY_SIZE bytes, the format espefuse burn-key takes): the one reader of key
 * files in the CLI. `what` names the option in messages; the read buffer is wiped.
 */
export async function readKeyFile(path: string, what = 'key file'): Promise<Uint8Array> {
  const bytes = await readRegularFile(path, what, 4096);
  try {
    if (bytes.length !== KEY_SIZE) throw new UsageError(`${what} ${printable(path)} must hold exactly ${KEY_SIZE} bytes (raw, as espefuse burn-key takes), it has ${bytes.length}`);
    return new Uint8Array(bytes);
  } finally {
    bytes.fill(0);
  }
}

// Byte I/O on an open serial port of the platform binding (binding.ts), without a Node stream.
//
// On Linux and macOS the binding hands out the port's file descriptor, opened non-blocking, and a
// poller on it. Its own read() and write() run every fs.read, fs.write and tcdrain on libuv's thread
// pool: per attestation a read that finds nothing, a read that finds the answer, a write and a drain,
// each a hop to a pool thread and back, which cost more CPU than everything else the host does per
// attestation (docs/performance.md §2). PollIo reads and writes the descriptor directly on the main
// thread when the poller says it is ready: a non-blocking read or write is one system call that
// never waits. Elsewhere (Windows) BindingIo uses the binding's read/write, one of each at a time.
import { readSync, writeSync } from 'node:fs';
import { TransportError } from '../errors.js';

/** Bytes asked for per read: more than a pty or USB bridge delivers at once. */
const READ_SIZE = 4096;

type Ready = (err: Error | null) => void;

/** What PollIo needs of a bindings-cpp port: its descriptor and poller (events are one-shot). */
export interface PolledPort {
  readonly fd: number | null;
  readonly poller: { once(event: 'readable' | 'writable', cb: Ready): unknown };
  close(): Promise<void>;
}

/** The binding interface's read and write (@serialport/bindings-interface). */
export interface BindingPort {
  read(buffer: Buffer, offset: number, length: number): Promise<{ bytesRead: number }>;
  write(buffer: Buffer): Promise<void>;
  close(): Promise<void>;
}

/** How a SerialTransport moves bytes; `lost` is called once if the port fails (unplugged). */
export interface PortIo {
  start(data: (bytes: Uint8Array) => void, lost: (err: Error) => void): void;
  /** Resolves once the operating system has taken every byte; TransportError if it cannot. */
  write(bytes: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

export function isPolledPort(port: unknown): port is PolledPort {
  const p = port as Partial<PolledPort>;
  return typeof p.fd === 'number' && typeof p.poller?.once === 'function';
}

/** A read or write that would block, or a signal: try again when the poller says so. */
function again(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EAGAIN' || code === 'EWOULDBLOCK' || code === 'EINTR';
}

function writeFailed(name: string, err: unknown): TransportError {
  return new TransportError(`write to ${name} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

interface QueuedWrite { bytes: Uint8Array; off: number; resolve(): void; reject(err: Error): void }

export class PollIo implements PortIo {
  private readonly buf = new Uint8Array(READ_SIZE);
  private readonly queue: QueuedWrite[] = [];
  private closed = false;
  private data: (bytes: Uint8Array) => void = () => {};
  private lost: (err: Error) => void = () => {};
  // Bound once, so arming the poller allocates nothing per event.
  private readonly onReadable: Ready = (err) => this.readable(err);
  private readonly onWritable: Ready = (err) => this.writable(err);

  constructor(private readonly port: PolledPort, private readonly name: string) {}

  start(data: (bytes: Uint8Array) => void, lost: (err: Error) => void): void {
    this.data = data;
    this.lost = lost;
    this.port.poller.once('readable', this.onReadable);
  }

  private readable(err: Error | null): void {
    if (this.closed) return;
    if (err) { this.fail(err); return; }
    for (;;) {
      let n: number;
      try {
        n = readSync(this.port.fd!, this.buf, 0, READ_SIZE, null);
      } catch (e) {
        if (again(e)) break;
        this.fail(e as Error);
        return;
      }
      // A copy: receivers may keep the chunk (a delaying test transport does).
      if (n > 0) this.data(this.buf.slice(0, n));
      if (this.closed) return;
      // A short read emptied the driver's buffer: wait for the poller rather than read into EAGAIN
      // (Node throws an Error for it, which costs more than the poll).
      if (n < READ_SIZE) break;
    }
    this.port.poller.once('readable', this.onReadable);
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(new TransportError(`serial port ${this.name} is not open`));
    const w: QueuedWrite = { bytes, off: 0, resolve: () => {}, reject: () => {} };
    if (this.queue.length === 0) {
      try {
        w.off = writeSync(this.port.fd!, bytes, 0, bytes.length);
      } catch (e) {
        if (!again(e)) { this.fail(e as Error); return Promise.reject(writeFailed(this.name, e)); }
      }
      if (w.off === bytes.length) return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      w.resolve = resolve;
      w.reject = reject;
      this.queue.push(w);
      if (this.queue.length === 1) this.port.poller.once('writable', this.onWritable);
    });
  }

  private writable(err: Error | null): void {
    if (this.closed) return;
    if (err) { this.fail(err); return; }
    const q = this.queue;
    while (q.length > 0) {
      const w = q[0]!;
      try {
        w.off += writeSync(this.port.fd!, w.bytes, w.off, w.bytes.length - w.off);
      } catch (e) {
        if (again(e)) break;
        this.fail(e as Error);
        return;
      }
      if (w.off < w.bytes.length) break; // the driver's buffer is full: wait for room
      q.shift();
      w.resolve();
    }
    if (q.length > 0) this.port.poller.once('writable', this.onWritable);
  }

  private fail(err: Error): void {
    if (this.closed) return;
    this.stop(err);
    this.lost(err);
  }

  private stop(err: Error): void {
    this.closed = true;
    for (const w of this.queue.splice(0)) w.reject(writeFailed(this.name, err));
  }

  async close(): Promise<void> {
    if (!this.closed) this.stop(new Error('the port was closed'));
    // Stops the poller; the callbacks it cancels find `closed` set.
    await this.port.close().catch(() => {});
  }
}

/** The binding's own read/write (ports without a pollable descriptor): one read always in flight. */
export class BindingIo implements PortIo {
  private readonly buf = Buffer.alloc(READ_SIZE);
  private tail: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly port: BindingPort, private readonly name: string) {}

  start(data: (bytes: Uint8Array) => void, lost: (err: Error) => void): void {
    void (async () => {
      while (!this.closed) {
        let n: number;
        try {
          n = (await this.port.read(this.buf, 0, READ_SIZE)).bytesRead;
        } catch (err) {
          if (this.closed || (err as { canceled?: boolean }).canceled) return;
          this.closed = true;
          lost(err as Error);
          return;
        }
        if (n > 0 && !this.closed) data(new Uint8Array(this.buf.subarray(0, n)));
      }
    })();
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(new TransportError(`serial port ${this.name} is not open`));
    // The binding allows one write at a time: each waits for the one before.
    const next = this.tail.then(() => this.port.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)))
      .catch((err: unknown) => { throw writeFailed(this.name, err); });
    this.tail = next.catch(() => {});
    return next;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.port.close().catch(() => {});
  }
}

// An in-memory transport pair: bytes written on one end arrive on the other, asynchronously
// (next macrotask), as on a real link. Used to run the device service in-process (the in-memory
// conformance target) and to build fault-injecting links in tests.
import { TransportError } from '../errors.js';
import type { Transport } from './transport.js';

export class MemoryTransport implements Transport {
  peer: MemoryTransport | undefined;
  private dataHandler: (bytes: Uint8Array) => void = () => {};
  private closeHandler: (err?: Error) => void = () => {};
  private open = true;

  constructor(readonly name = 'memory') {}

  static pair(name = 'memory'): [MemoryTransport, MemoryTransport] {
    const a = new MemoryTransport(name);
    const b = new MemoryTransport(name + '-peer');
    a.peer = b;
    b.peer = a;
    return [a, b];
  }

  get isOpen(): boolean { return this.open; }

  write(bytes: Uint8Array): Promise<void> {
    if (!this.open) return Promise.reject(new TransportError(`${this.name} is closed`));
    const copy = bytes.slice();
    const peer = this.peer;
    setImmediate(() => { if (peer?.open) peer.dataHandler(copy); });
    return Promise.resolve();
  }

  onData(handler: (bytes: Uint8Array) => void): void { this.dataHandler = handler; }
  onClose(handler: (err?: Error) => void): void { this.closeHandler = handler; }

  async close(): Promise<void> {
    if (!this.open) return;
    this.open = false;
    this.closeHandler();
    const peer = this.peer;
    if (peer?.open) { peer.open = false; peer.closeHandler(new TransportError(`${peer.name}: the other end closed`)); }
  }
}

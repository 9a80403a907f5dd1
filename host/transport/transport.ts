// The transport interface: a byte pipe to one device. Everything above it (framing, session,
// commands) is written against this, so a serial port, an in-memory pair or a fault-injecting
// wrapper swap in with no other change (STYLE.md §6).

export interface Transport {
  /** A short human name for errors: a port path, "memory", … */
  readonly name: string;
  readonly isOpen: boolean;
  write(bytes: Uint8Array): Promise<void>;
  /** Registers the receiver of incoming bytes (one receiver). */
  onData(handler: (bytes: Uint8Array) => void): void;
  /** Called once when the link goes away (closed, unplugged); `err` says why if not asked to. */
  onClose(handler: (err?: Error) => void): void;
  close(): Promise<void>;
}

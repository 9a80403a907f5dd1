// The transport interface: a byte pipe to one device. Everything above it (framing, session,
// commands) is written against this, so a serial port, an in-memory pair or a fault-injecting
// wrapper swap in with no other change (STYLE.md §6).

/** The baud rate a serial port is opened at unless told otherwise (ESP32 boot ROM and console default). */
export const DEFAULT_BAUD = 115200;

export interface Transport {
  /** A short human name for errors: a port path, "memory", … */
  readonly name: string;
  readonly isOpen: boolean;
  /**
   * The line's rate in bits per second, for a UART: the session allows a request its time on the
   * line (write resolves once the operating system has taken the bytes, not once they are sent).
   */
  readonly baud?: number;
  write(bytes: Uint8Array): Promise<void>;
  /** Registers the receiver of incoming bytes (one receiver). */
  onData(handler: (bytes: Uint8Array) => void): void;
  /** Called once when the link goes away (closed, unplugged); `err` says why if not asked to. */
  onClose(handler: (err?: Error) => void): void;
  close(): Promise<void>;
}

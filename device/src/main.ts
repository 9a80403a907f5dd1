// Firmware entry: boots the attestation service on the configured UART (moddable.json "config":
// attestUart { port, baud, transmit, receive }). Writes go out in chunks within the driver's
// onWritable budget; a bounded queue holds the rest, and when it is full new answers are dropped
// (the host retries) rather than letting memory grow.
import Serial from "embedded:io/serial";
import config from "mc/config";
import { createDevice } from './device.js';
import { nativeHardware } from './native.js';
import { AttestService } from './service.js';

const MAX_QUEUED = 8 * 1024;

interface UartConfig { port: number; baud: number; transmit: number; receive: number }
const uart: UartConfig = { port: 0, baud: 115200, transmit: 43, receive: 44, ...(config.attestUart ?? {}) };

const queue: Uint8Array[] = [];
let queued = 0;
let budget = 0;
let serial: Serial;

function pump(): void {
  while (queue.length > 0 && budget > 0) {
    const head = queue[0];
    const n = Math.min(head.length, budget);
    serial.write(n === head.length ? head : head.subarray(0, n));
    budget -= n;
    queued -= n;
    if (n === head.length) queue.shift();
    else queue[0] = head.subarray(n);
  }
}

const service = new AttestService(createDevice(nativeHardware), (frame) => {
  if (queued + frame.length > MAX_QUEUED) return;
  queue.push(frame);
  queued += frame.length;
  pump();
});

serial = new Serial({
  port: uart.port,
  baud: uart.baud,
  transmit: uart.transmit,
  receive: uart.receive,
  format: "buffer",
  onReadable(count: number) {
    const data = this.read(count);
    if (data instanceof ArrayBuffer) service.receive(new Uint8Array(data));
  },
  onWritable(count: number) {
    budget = count;
    pump();
  },
});

trace(`efuse-attest: service ready on UART${uart.port} at ${uart.baud} baud\n`);

// 1. Host verification throughput against a raw node:crypto HMAC-SHA256 loop over the same
//    transcript bytes (target ≥ 0.9× of raw). 3. Frame codec throughput, encode and decode.
import { createHmac, randomBytes } from 'node:crypto';
import { createDevice } from '../device/src/device.js';
import { verifyAttestation } from '../host/verify.js';
import { buildTranscript, encodeFrame, FrameDecoder, MAX_PAYLOAD } from '../protocol/index.js';
import { softChip } from '../test/support/soft-chip.js';
import { compare, line, measure, verdict } from './util.js';

export function benchVerify(): Record<string, number | boolean> {
  const key = new Uint8Array(randomBytes(32));
  const dev = createDevice(softChip({ keys: { 0: { key }, 1: { key } } }));
  const nonce = new Uint8Array(randomBytes(32));
  const att = { nonce, response: dev.attest(nonce) };
  const transcript = buildTranscript(att.response, nonce);
  let sink = 0;
  const r = compare(
    () => { sink ^= verifyAttestation(att, { key }).slot; },
    () => { sink ^= createHmac('sha256', key).update(transcript).digest()[0]; },
  );
  if (sink === 0x1234) console.log('');
  line('1. verifyAttestation (verifications/s)', r.a.toFixed(0));
  line('   raw node:crypto HMAC-SHA256 of the transcript (/s)', r.b.toFixed(0));
  line('   ratio (target >= 0.9)', `${r.ratio.toFixed(3)} (${verdict(r.ratio >= 0.9)})`);
  return { verifyPerSecond: r.a, rawHmacPerSecond: r.b, verifyRatio: r.ratio, met: r.ratio >= 0.9 };
}

export function benchCodec(): Record<string, number> {
  const payload = new Uint8Array(randomBytes(MAX_PAYLOAD));
  const enc = measure(() => { encodeFrame(payload); }, 1000, 50);
  const frames = Buffer.concat(Array.from({ length: 64 }, () => encodeFrame(payload)));
  const d = new FrameDecoder();
  const dec = measure(() => { d.push(frames); }, 1000, 2);
  const small = encodeFrame(new Uint8Array(48));
  const decSmall = measure(() => { d.push(small); }, 1000, 200);
  const encMB = (enc.perSecond * payload.length) / 1e6;
  const decMB = (dec.perSecond * frames.length) / 1e6;
  line('3. frame encode, 1024-byte payloads (MB/s)', encMB.toFixed(1));
  line('   frame decode, 1024-byte payloads (MB/s)', decMB.toFixed(1));
  line('   frame decode, 58-byte frames (frames/s)', decSmall.perSecond.toFixed(0));
  // No target of its own: the codec only has to stay far ahead of the fastest UART it serves.
  const uartMBps = 921600 / 10 / 1e6;
  line('   slowest of the two vs a 921600-baud UART (× faster)', `${(Math.min(encMB, decMB) / uartMBps).toFixed(0)}×`);
  return { encodeMBps: encMB, decodeMBps: decMB, smallFramesPerSecond: decSmall.perSecond, uartMBps };
}

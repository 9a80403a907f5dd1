// 1. Host verification throughput against a raw node:crypto HMAC-SHA256 loop over the same
//    transcript bytes (target ≥ 0.9× of raw), and verifyMany per item against single verifications
//    (target ≥ 1×). 3. Frame codec throughput, encode and decode.
import { createHmac, randomBytes } from 'node:crypto';
import { createDevice } from '../device/src/device.js';
import { VerifiedAttestation, verifyAttestation, verifyMany } from '../host/verify.js';
import { buildTranscript, encodeFrame, FrameDecoder, MAX_PAYLOAD } from '../protocol/index.js';
import { softChip } from '../test/support/soft-chip.js';
import { compare, line, measure, verdict } from './util.js';

const BATCH = 256;

export function benchVerify(): Record<string, number | boolean> {
  const key = new Uint8Array(randomBytes(32));
  const dev = createDevice(softChip({ keys: { 0: { key }, 1: { key } } }));
  const nonce = new Uint8Array(randomBytes(32));
  const att = { nonce, response: dev.attest(nonce) };
  const transcript = buildTranscript(att.response, nonce);
  const items = Array.from({ length: BATCH }, () => ({ ...att, key }));
  let sink = 0;
  // CPU time, best of 7 interleaved rounds: on a shared machine wall time mostly measures the others.
  const r = compare(
    () => { sink ^= verifyAttestation(att, { key }).slot; },
    () => { sink ^= createHmac('sha256', key).update(transcript).digest()[0]!; },
    7, 400, true,
  );
  const batch = compare(
    () => { for (const x of verifyMany(items)) sink ^= x instanceof VerifiedAttestation ? x.slot : 1; },
    () => { for (const it of items) sink ^= verifyAttestation(it, it).slot; },
    7, 400, true,
  );
  if (sink === 0x1234) console.log('');
  const batchRatio = batch.ratio;
  line('1. verifyAttestation (verifications per CPU second)', r.a.toFixed(0));
  line('   raw node:crypto createHmac of the transcript (/s)', r.b.toFixed(0));
  line('   ratio (target >= 0.9)', `${r.ratio.toFixed(3)} (${verdict(r.ratio >= 0.9)})`);
  line(`   verifyMany, ${BATCH} per call (verifications/s)`, (batch.a * BATCH).toFixed(0));
  line('   per item vs single verifyAttestation (target >= 1.0)', `${batchRatio.toFixed(3)} (${verdict(batchRatio >= 1)})`);
  return {
    verifyPerSecond: r.a, rawHmacPerSecond: r.b, verifyRatio: r.ratio, met: r.ratio >= 0.9,
    batchPerSecond: batch.a * BATCH, batchRatio, batchMet: batchRatio >= 1,
  };
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

// Where the host's CPU goes per attestation (docs/performance.md §2). A sampling profiler is no
// use for this on a shared machine: it samples wall time, so the time this process spends preempted
// right after waking the emulator with a write is charged to the write. CPU time is measured instead,
// in layers:
//   in situ     one Client.attest() + verifyAttestation over the emulator's pty: the whole cost, per
//               thread of this process (/proc/self/task), user and system time;
//   loopback    the same through a Client whose transport answers each request at once (the next
//               macrotask) with the frame the device would send: commands, session, codecs and
//               verification without a serial port;
//   isolated    verification, the frame codec and the message codec of one attestation, in loops.
// Session and commands are the loopback less the isolated parts; the transport, the binding's poller,
// the event loop and the kernel's side of the pty are the in-situ cost less the loopback.
import { readdirSync, readFileSync } from 'node:fs';
import { Client } from '../host/client.js';
import type { Attestation } from '../host/requests/attest.js';
import type { Transport } from '../host/transport/transport.js';
import { verifyAttestation } from '../host/verify.js';
import { HEADER_SIZE } from '../protocol/frame.js';
import { decodeResponse, encodeFrame, encodeRequest, encodeResponse, FrameDecoder } from '../protocol/index.js';

const CLK_TCK = 100;

/** CPU seconds of this process's main thread and of all its other threads (pool, GC helpers), from /proc. */
export function threadCpu(): { main: number; others: number } | undefined {
  let tids: string[];
  try { tids = readdirSync('/proc/self/task'); } catch { return undefined; }
  let main = 0;
  let others = 0;
  for (const tid of tids) {
    try {
      const f = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8').replace(/^.*\)\s/s, '').split(' ');
      const s = (Number(f[11]) + Number(f[12])) / CLK_TCK;
      if (tid === String(process.pid)) main += s; else others += s;
    } catch { /* the thread ended */ }
  }
  return { main, others };
}

/** Answers every ATTEST request with `answers[id]`, a macrotask later, as a device on a link would. */
class Loopback implements Transport {
  readonly name = 'loopback';
  readonly isOpen = true;
  private handler: (bytes: Uint8Array) => void = () => {};
  constructor(private readonly answers: readonly Uint8Array[]) {}
  write(bytes: Uint8Array): Promise<void> {
    const id = bytes[HEADER_SIZE + 2]! | (bytes[HEADER_SIZE + 3]! << 8);
    setImmediate(this.handler, this.answers[id]);
    return Promise.resolve();
  }
  onData(handler: (bytes: Uint8Array) => void): void { this.handler = handler; }
  onClose(): void {}
  close(): Promise<void> { return Promise.resolve(); }
}

export interface Breakdown {
  attestations: number;
  /** µs of CPU per attestation. */
  inSitu: { total: number; user: number; system: number; mainThread?: number; otherThreads?: number };
  loopback: number;
  verify: number;
  frameCodec: number;
  messageCodec: number;
  sessionAndCommands: number;
  transportAndEventLoop: number;
}

/** CPU µs per call of `fn` (not wall time, which a busy machine inflates), over about `budgetMs` of CPU. */
function cpuMeasure(fn: () => void, budgetMs = 300): number {
  for (let i = 0; i < 1000; i++) fn();
  let calls = 0;
  const c0 = process.cpuUsage();
  let used = 0;
  while (used < budgetMs * 1000) {
    for (let i = 0; i < 1000; i++) fn();
    calls += 1000;
    const c = process.cpuUsage(c0);
    used = c.user + c.system;
  }
  return used / calls;
}

async function cpuPerCall(n: number, one: () => Promise<void>): Promise<{ total: number; user: number; system: number; main?: number; others?: number }> {
  const t0 = threadCpu();
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) await one();
  const c = process.cpuUsage(c0);
  const t1 = threadCpu();
  return {
    total: (c.user + c.system) / n, user: c.user / n, system: c.system / n,
    ...(t0 && t1 ? { main: ((t1.main - t0.main) * 1e6) / n, others: ((t1.others - t0.others) * 1e6) / n } : {}),
  };
}

/** The breakdown of `n` attestations by `client` (on the emulator), verified with `key`. */
export async function hostBreakdown(client: Client, key: Uint8Array, n = 2000): Promise<Breakdown> {
  const sample: Attestation = await client.attest();
  verifyAttestation(sample, { key });
  const answers = Array.from({ length: 0x10000 }, (_, id) => encodeFrame(encodeResponse({ type: 'attest', id, attestation: sample.response })));
  const inSitu = await cpuPerCall(n, async () => { verifyAttestation(await client.attest(), { key }); });

  const loop = new Client(new Loopback(answers));
  const nonce = sample.nonce;
  // The loopback answers with the sample's MAC, which verifies only for the sample's nonce.
  const attestLoop = async () => { verifyAttestation(await loop.attest({ nonce }), { key }); };
  for (let i = 0; i < 500; i++) await attestLoop();
  const loopback = (await cpuPerCall(n, attestLoop)).total;

  const perCall = (fn: () => void) => cpuMeasure(fn);
  const verify = perCall(() => { verifyAttestation(sample, { key }); });
  const request = encodeRequest({ type: 'attest', id: 1, slot: 0, nonce });
  const response = answers[1]!;
  const decoder = new FrameDecoder();
  const frameCodec = perCall(() => { encodeFrame(request); decoder.push(response); });
  const payload = response.subarray(HEADER_SIZE, response.length - 4);
  const messageCodec = perCall(() => { encodeRequest({ type: 'attest', id: 1, slot: 0, nonce }); decodeResponse(payload); });
  return {
    attestations: n,
    inSitu: {
      total: inSitu.total, user: inSitu.user, system: inSitu.system,
      ...(inSitu.main !== undefined ? { mainThread: inSitu.main, otherThreads: inSitu.others } : {}),
    },
    loopback,
    verify,
    frameCodec,
    messageCodec,
    sessionAndCommands: loopback - verify - frameCodec - messageCodec,
    transportAndEventLoop: inSitu.total - loopback,
  };
}

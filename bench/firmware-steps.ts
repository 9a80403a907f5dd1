// 2c. Where the emulator's time goes inside the firmware: each step of answering an ATTEST, repeated
// STEPS_N times by a main module on the XS engine (the firmware's own modules under their manifest
// names, the native C, the simulated IDF), its CPU read from /proc, less that of a main that only sets
// up. Interpreted JavaScript, so the split carries over to a device, where each step takes longer.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmulator } from '../host/emulator.js';
import type { BenchChip } from './chip.js';
import { processCpu } from './roundtrip.js';
import { line } from './util.js';

export const STEPS_N = 20_000;

/** Each step as the loop body of the main; `setup` is the baseline. */
const STEPS = {
  setup: '',
  decodeFrame: 'decoder.push(requestFrame);',
  decodeRequest: 'decodeRequest(requestPayload);',
  attest: 'device.attest(nonce, 0);',
  encodeResponse: 'encodeResponse(response);',
  encodeFrame: 'encodeFrame(responsePayload);',
  whole: 'service.receive(requestFrame);',
} as const;

export type Step = Exclude<keyof typeof STEPS, 'setup'>;

const main = (body: string): string => `
import { encodeFrame, FrameDecoder } from "protocol/frame";
import { decodeRequest, encodeRequest, encodeResponse } from "protocol/messages";
import { createDevice } from "device/src/device";
import { nativeHardware } from "device/src/native";
import { AttestService } from "device/src/service";
const nonce = new Uint8Array(32);
for (let i = 0; i < 32; i++) nonce[i] = i * 7;
const requestPayload = encodeRequest({ type: "attest", id: 7, slot: 0, nonce });
const requestFrame = encodeFrame(requestPayload);
const decoder = new FrameDecoder();
const device = createDevice(nativeHardware);
const response = { type: "attest", id: 7, attestation: device.attest(nonce, 0) };
const responsePayload = encodeResponse(response);
let sent = 0;
const service = new AttestService(device, (frame) => { sent += frame.length; });
for (let i = 0; i < ${STEPS_N}; i++) { ${body} }
trace("firmware-steps done " + sent + "\\n");
`;

/** CPU seconds of one main run to its end. */
async function run(chip: BenchChip, file: string): Promise<number> {
  let done = false;
  const emu = await startEmulator({ chip: chip.chip, efuse: chip.image, main: file, verbose: true, onLog: (l) => { if (l.startsWith('firmware-steps done')) done = true; } });
  try {
    const deadline = Date.now() + 60_000;
    while (!done && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    if (!done) throw new Error('the step loop did not finish within 60 s');
    const cpu = processCpu(emu.pid);
    if (cpu === undefined) throw new Error('no /proc to read the emulator\'s CPU time from');
    return cpu;
  } finally {
    await emu.stop();
  }
}

export interface FirmwareSteps {
  repetitions: number;
  /** CPU µs per repetition of each step on XS, the setup's CPU taken off. */
  us: Record<Step, number>;
}

/** Needs a chip with a key in BLOCK_KEY0 (the attest step MACs with it). */
export async function benchFirmwareSteps(chip: BenchChip): Promise<FirmwareSteps> {
  const dir = await mkdtemp(join(tmpdir(), 'efa-steps-'));
  try {
    const cpu: Partial<Record<keyof typeof STEPS, number>> = {};
    for (const [name, body] of Object.entries(STEPS) as [keyof typeof STEPS, string][]) {
      const file = join(dir, `${name}.js`);
      await writeFile(file, main(body));
      cpu[name] = await run(chip, file);
    }
    const us = {} as Record<Step, number>;
    for (const name of Object.keys(STEPS) as (keyof typeof STEPS)[]) {
      if (name !== 'setup') us[name] = Math.max(0, (cpu[name]! - cpu.setup!) / STEPS_N * 1e6);
    }
    const f = (v: number) => v.toFixed(1);
    line(`2c. firmware CPU per step on XS, ${STEPS_N}× each (µs): a whole ATTEST`, f(us.whole));
    line('    decode frame / decode request / attest (HMAC in C)', `${f(us.decodeFrame)} / ${f(us.decodeRequest)} / ${f(us.attest)}`);
    line('    encode response / encode frame', `${f(us.encodeResponse)} / ${f(us.encodeFrame)}`);
    return { repetitions: STEPS_N, us };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// efuse-attest ping: is the service answering, and how fast.
import type { Command } from '../command.js';
import { DEVICE_OPTIONS, DEVICE_USAGE, withClient } from '../common.js';

export const ping: Command = {
  name: 'ping',
  summary: 'check that the attestation service answers',
  usage: `efuse-attest ping --port PATH [options]\n\n${DEVICE_USAGE}`,
  options: DEVICE_OPTIONS,
  run: (values, _p, ctx) => withClient(values, ctx, (c) => c.ping()),
  format: (r: { roundTripMs: number }) => `answered in ${r.roundTripMs.toFixed(1)} ms`,
};

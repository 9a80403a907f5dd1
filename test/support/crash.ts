// A crash in-process, for the resume tests: the provisioning sequence's step callback (called once a
// step's audit line is on disk) marks the process dead and throws; from then on the escrow store and
// the audit log refuse every call — no failure line, no cleanup, no claim released — as when the
// process dies at that point. support/crash-run.ts does the same with a real SIGKILL.
import assert from 'node:assert/strict';
import type { EscrowState } from '../../host/escrow/store.js';
import { type Outcome, provisionDevice, type ProvisionOptions, type ProvisionResult, type Step } from '../../host/provision/sequence.js';

/** What the fuses and the escrow hold after a crash right after each step, and how the next run ends (docs/provisioning.md §2.2). */
export const AFTER_CRASH: Readonly<Record<Step, { burned: boolean; state?: EscrowState; resumed: Outcome }>> = {
  read: { burned: false, resumed: 'provisioned' },
  keygen: { burned: false, resumed: 'provisioned' },
  escrow: { burned: false, state: 'escrowed', resumed: 'resumed' },
  burn: { burned: true, state: 'escrowed', resumed: 'resumed' },
  check: { burned: true, state: 'escrowed', resumed: 'resumed' },
  'mark-burned': { burned: true, state: 'burned', resumed: 'resumed' },
  challenge: { burned: true, state: 'burned', resumed: 'resumed' },
  'mark-verified': { burned: true, state: 'verified', resumed: 'already-provisioned' },
};

export class Crash extends Error {}

/** `target` with every method refusing once `dead()`: what a killed process can no longer write. */
export function cutOff<T extends object>(target: T, dead: () => boolean): T {
  return new Proxy(target, {
    get(t, prop) {
      const v = Reflect.get(t, prop, t) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => (dead() ? Promise.reject(new Crash('the process is gone')) : (v as (...a: unknown[]) => unknown).apply(t, args));
    },
  });
}

/** Runs the sequence and "dies" right after `step` ends ok; asserts that it got there. */
export async function crashAfter(step: Step, opts: Omit<ProvisionOptions, 'onStep'>): Promise<ProvisionResult> {
  let dead = false;
  const r = await provisionDevice({
    ...opts, store: cutOff(opts.store, () => dead), audit: cutOff(opts.audit, () => dead),
    onStep: (s, outcome) => { if (s === step && outcome === 'ok') { dead = true; throw new Crash(`crash after ${step}`); } },
  });
  assert.ok(dead, `the run reached the end of ${step}: ${JSON.stringify(r.error)}`);
  return r;
}

// Several devices at once in one station process (docs/provisioning.md §2.3): a pool of at most
// `parallel` workers takes the targets in order, each running the whole sequence for its device.
// The escrow and the audit log are shared: the vault serializes its writes under its lock, the
// PostgreSQL store in transactions (and its claims keep two stations off one device), the audit log
// chains lines one at a time. Results come back in the order of the targets, whatever finished first.
import type { EfuseController } from '../efuse/controller.js';
import type { AuditOutcome } from './audit.js';
import { provisionDevice, type ProvisionOptions, type ProvisionResult, type Step } from './sequence.js';

export const MAX_PARALLEL = 16;

export interface BatchOptions extends Omit<ProvisionOptions, 'efuse' | 'onStep'> {
  targets: readonly EfuseController[];
  /** Devices provisioned at the same time (1..16, default 1). */
  parallel?: number;
  /** A step of one device ended: its index in `targets`. */
  onStep?: (index: number, step: Step, outcome: AuditOutcome) => void;
  /** A device is done. */
  onDevice?: (index: number, result: ProvisionResult) => void;
}

export async function provisionBatch(opts: BatchOptions): Promise<ProvisionResult[]> {
  const parallel = opts.parallel ?? 1;
  if (!Number.isInteger(parallel)) throw new TypeError('parallel must be a whole number');
  if (parallel < 1 || parallel > MAX_PARALLEL) throw new RangeError(`parallel must be 1..${MAX_PARALLEL}, got ${parallel}`);
  if (!Array.isArray(opts.targets)) throw new TypeError('targets must be an array of EfuseController');
  const { targets, onStep, onDevice, parallel: _p, ...common } = opts;
  const results: ProvisionResult[] = new Array(targets.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < targets.length; i = next++) {
      const index = i;
      // provisionDevice never throws: a failure is in its result and the others go on.
      results[index] = await provisionDevice({
        ...common, efuse: targets[index]!, ...(onStep ? { onStep: (step: Step, outcome: AuditOutcome) => onStep(index, step, outcome) } : {}),
      });
      onDevice?.(index, results[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, targets.length) }, worker));
  return results;
}

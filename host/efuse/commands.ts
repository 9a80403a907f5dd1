// The espefuse command lines a provisioning run uses, as a dry run prints them: the user can run
// them by hand, with the private temp paths filled in (test/provision-cli.test.ts does). The key file is
// shown masked, as espefuse masks keys (`??` per byte, STYLE.md §13).
import { KEY_SIZE } from '../keys.js';
import type { Espefuse } from '../espefuse/driver.js';

export const MASKED_KEY = `[${Array(KEY_SIZE).fill('??').join(' ')}]`;

/** summary; with `burn`, also burn-key and the summary that checks it. */
export function espefuseCommands(ef: Espefuse, block: string, burn: boolean): string[] {
  const summary = ef.display(ef.summaryCommand('<private temp dir>/summary.json'));
  if (!burn) return [summary];
  return [summary, ef.display(ef.burnKeyCommand(block, '<private temp dir>/key.bin'), { confirm: false }) + '    # key.bin = ' + MASKED_KEY, summary];
}

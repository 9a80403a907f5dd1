// Escrow calls with arguments JSON cannot carry (a filter function), for child-call.ts.
import { cleanLeftovers } from '../../host/escrow/leftovers.js';

/** cleanLeftovers over every target name, with the key-copy wipe. */
export const cleanAllWiping = (dir: string): Promise<string[]> => cleanLeftovers(dir, { names: () => true, wipe: true });

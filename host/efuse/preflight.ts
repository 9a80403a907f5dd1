// The preflight of a burn (docs/provisioning.md §2, step `burn`): from a summary just read, whether
// `block` can take an HMAC_UP key that is then read-protected. Pure, so every EfuseController is
// checked by the same rules before anything irreversible.
import { hasHmacPeripheral } from '../../protocol/index.js';
import { EspefuseError } from '../errors.js';
import { blockName } from '../../protocol/keyblock.js';
import { describeBlock, type EfuseSummary, keyBlock } from '../espefuse/summary.js';

/**
 * Throws EspefuseError, with the reason, unless the chip has an HMAC peripheral, the block is
 * unused, its KEY_PURPOSE is writable and RD_DIS is not write-locked.
 */
export function checkBurnable(chip: string, s: EfuseSummary, block: string): void {
  const b = blockName(block);
  if (!hasHmacPeripheral(chip)) {
    throw new EspefuseError(`${chip} has no HMAC peripheral: an HMAC_UP key would be unusable`, 'ESPEFUSE_NO_HMAC');
  }
  const k = keyBlock(s, b);
  if (!k.unused) {
    throw new EspefuseError(`${b} of device ${s.mac} is already used (${describeBlock(k)}); a used block is never burned again`, 'BLOCK_USED');
  }
  if (!k.purposeWritable) {
    throw new EspefuseError(`KEY_PURPOSE_${k.slot} of device ${s.mac} is write-protected: ${b} cannot be given purpose HMAC_UP`, 'PURPOSE_LOCKED');
  }
  if (!s.rdDisWritable) {
    throw new EspefuseError(
      `RD_DIS of device ${s.mac} is write-protected${s.secureBoot ? ' (secure boot is enabled, which locks it)' : ''}: ` +
      `a key burned now could not be read-protected, so it is not burned. Provision the HMAC key before enabling secure boot`,
      'RD_DIS_LOCKED');
  }
}

// Policy flags shared by `attest` and `verify`.
import type { Policy } from '../verify.js';
import type { Options, Values } from './command.js';

export const POLICY_OPTIONS = {
  'device-id': { type: 'string' },
  'allow-readable-key': { type: 'boolean' },
  'require-write-protect': { type: 'boolean' },
  'require-secure-boot': { type: 'boolean' },
  'require-flash-encryption': { type: 'boolean' },
  'firmware-id': { type: 'string', multiple: true },
} as const satisfies Options;

export const POLICY_USAGE = `  --device-id HEX            the device the answer must come from (its factory MAC)
  --allow-readable-key       accept a key block that is not read-protected (development only)
  --require-write-protect    refuse a key block that is not write-protected
  --require-secure-boot      refuse a device without secure boot
  --require-flash-encryption refuse a device without flash encryption
  --firmware-id HEX          accept only this firmware (repeatable)`;

export function policyFrom(values: Values): Partial<Policy> {
  const ids = values['firmware-id'];
  return {
    requireReadProtected: values['allow-readable-key'] !== true,
    requireWriteProtected: values['require-write-protect'] === true,
    requireSecureBoot: values['require-secure-boot'] === true,
    requireFlashEncryption: values['require-flash-encryption'] === true,
    ...(Array.isArray(ids) && ids.length > 0 ? { firmwareIds: ids as string[] } : {}),
  };
}

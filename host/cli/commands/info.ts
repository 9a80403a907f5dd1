// efuse-attest info: what the device reports about its chip, identity, security state and key blocks.
import { chipName, type DeviceInfo, purposeName, toHex } from '../../../protocol/index.js';
import type { Command } from '../command.js';
import { DEVICE_OPTIONS, DEVICE_USAGE, withClient } from '../common.js';
import { printable } from '../printable.js';

export interface InfoOutput {
  deviceId: string;
  chip: string;
  revision: string;
  hmacPeripheral: boolean;
  secureBoot: boolean;
  flashEncryption: boolean;
  firmwareId: string;
  firmwareVersion: string;
  keyBlocks: { block: string; purpose: string; readProtected: boolean; writeProtected: boolean; unused: boolean }[];
}

export function describeInfo(i: DeviceInfo): InfoOutput {
  return {
    deviceId: toHex(i.deviceId),
    chip: chipName(i.chip),
    revision: `v${Math.floor(i.revision / 100)}.${i.revision % 100}`,
    hmacPeripheral: i.hmac,
    secureBoot: i.secureBoot,
    flashEncryption: i.flashEncryption,
    firmwareId: toHex(i.firmwareId),
    firmwareVersion: i.firmwareVersion,
    keyBlocks: i.keys.map((k, n) => ({ block: `BLOCK_KEY${n}`, purpose: purposeName(k.purpose), readProtected: k.readProtected, writeProtected: k.writeProtected, unused: k.unused })),
  };
}

export const info: Command = {
  name: 'info',
  summary: 'show the device id, chip, security state and eFuse key blocks',
  usage: `efuse-attest info --port PATH [options]\n\n${DEVICE_USAGE}`,
  options: DEVICE_OPTIONS,
  run: (values, _p, ctx) => withClient(values, ctx, async (c) => describeInfo(await c.info())),
  format(o: InfoOutput) {
    const lines = [
      `device id        ${o.deviceId}`,
      `chip             ${o.chip} ${o.revision}${o.hmacPeripheral ? '' : ' (no HMAC peripheral)'}`,
      `secure boot      ${o.secureBoot ? 'enabled' : 'disabled'}`,
      `flash encryption ${o.flashEncryption ? 'enabled' : 'disabled'}`,
      `firmware         ${printable(o.firmwareVersion)} (${o.firmwareId.slice(0, 16)}…)`,
    ];
    for (const k of o.keyBlocks) {
      const flags = [k.readProtected ? 'read-protected' : '', k.writeProtected ? 'write-protected' : '', k.unused ? 'unused' : ''].filter(Boolean).join(', ');
      lines.push(`${k.block.padEnd(16)} ${k.purpose}${flags ? ` (${flags})` : ''}`);
    }
    return lines.join('\n');
  },
};

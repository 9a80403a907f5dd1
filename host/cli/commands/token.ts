// efuse-attest token: have the device sign an Azure-style SAS token with its eFuse key.
import { type Command, int, required, str } from '../command.js';
import { TOKEN_SLOT } from '../../../protocol/index.js';
import { DEVICE_OPTIONS, DEVICE_USAGE, slotOption, withClient } from '../common.js';
import { printable } from '../printable.js';

export const token: Command = {
  name: 'token',
  summary: 'have the device sign a SAS token (Azure IoT style) for a resource',
  usage: `efuse-attest token --port PATH --resource URI [--expiry SECONDS | --ttl SECONDS] [--key-name NAME] [--slot N]

  --resource URI    e.g. myhub.azure-devices.net/devices/dev1
  --expiry SECONDS  absolute expiry, seconds since the Unix epoch
  --ttl SECONDS     expiry relative to now (default 3600)
  --key-name NAME   SAS policy name (skn), if the backend expects one
  --slot N          the token key's block, BLOCK_KEY<N> (default 1: the firmware signs tokens
                    only with its token blocks, never with the attestation key in BLOCK_KEY0)
${DEVICE_USAGE}`,
  options: { ...DEVICE_OPTIONS, resource: { type: 'string', short: 'r' }, expiry: { type: 'string' }, ttl: { type: 'string' }, 'key-name': { type: 'string' }, slot: { type: 'string' } },
  async run(values, _p, ctx) {
    const resource = required(values, 'resource');
    const expiry = str(values, 'expiry') !== undefined
      ? int(values, 'expiry', 0, 1, 0xffffffff)
      : Math.floor(Date.now() / 1000) + int(values, 'ttl', 3600, 1, 10 * 365 * 86400);
    const slot = slotOption(values, TOKEN_SLOT);
    const keyName = str(values, 'key-name') ?? '';
    return { token: await withClient(values, ctx, (c) => c.token({ resource, expiry, slot, keyName })) };
  },
  format: (r: { token: string }) => printable(r.token),
};

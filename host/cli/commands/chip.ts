// efuse-attest chip: virtual chips for running without hardware. `chip create` makes a blank eFuse
// image with the real espefuse (its own token loader sets the factory MAC) and an empty silicon side
// file; `chip show` reads an image's eFuses the way provisioning does.
import { chipsWith } from '../../../protocol/index.js';
import { UsageError } from '../../errors.js';
import { Espefuse } from '../../espefuse/driver.js';
import { describeBlock, type EfuseSummary } from '../../espefuse/summary.js';
import { createVirtualChip } from '../../espefuse/virtual.js';
import { type Command, required, str } from '../command.js';

export const chip: Command = {
  name: 'chip',
  summary: 'make or inspect a virtual chip (an espefuse eFuse image + its silicon side file)',
  usage: `efuse-attest chip create --chip esp32s3 --out chip.bin [--mac aa:bb:cc:dd:ee:ff] [--force]
efuse-attest chip show --chip esp32s3 --virt chip.bin

  --chip NAME   ${chipsWith('virtual').join(', ')}
                (with the HMAC peripheral: ${chipsWith('virtual', 'hmac').join(', ')};
                emulated: ${chipsWith('virtual', 'emulated').join(', ')})
  --out FILE    the new eFuse image; the silicon side file is FILE.silicon.json
  --mac MAC     its factory MAC = device id (default: a random locally administered MAC)
  --force       replace an existing image and side file
  --virt FILE   the image to read`,
  options: { chip: { type: 'string' }, out: { type: 'string', short: 'o' }, mac: { type: 'string' }, force: { type: 'boolean' }, virt: { type: 'string' } },
  positionals: true,
  async run(values, positionals) {
    const [sub, ...extra] = positionals;
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
    const chipName = required(values, 'chip');
    if (sub === 'create') {
      const mac = str(values, 'mac');
      const c = await createVirtualChip({ chip: chipName, out: required(values, 'out'), force: values.force === true, ...(mac ? { mac } : {}) });
      return { image: c.image, silicon: c.silicon, chip: c.chip, deviceId: c.deviceId };
    }
    if (sub === 'show') {
      return new Espefuse(chipName, { kind: 'virt', image: required(values, 'virt') }).summary();
    }
    throw new UsageError('give a subcommand: chip create | chip show');
  },
  format(r: { image?: string; deviceId?: string; chip: string } & Partial<EfuseSummary>) {
    if (r.image) return `created ${r.chip} virtual chip ${r.image} (device id ${r.deviceId})`;
    const s = r as EfuseSummary;
    return [
      `${s.chip} device ${s.mac}, revision v${s.revision.major}.${s.revision.minor}, secure boot ${s.secureBoot ? 'on' : 'off'}, flash encryption ${s.flashEncryption ? 'on' : 'off'}${s.rdDisWritable ? '' : ', RD_DIS write-locked'}`,
      ...s.keys.map((k) => `  ${k.block}: ${describeBlock(k)}${k.unused ? ' (unused)' : ''}`),
    ].join('\n');
  },
};

// The controller for a target as the CLI and the demo name it: a serial port or a virtual chip image.
import type { EspefuseOptions, EspefuseTarget } from '../espefuse/driver.js';
import type { EfuseController } from './controller.js';
import { PortEfuse } from './port.js';
import { VirtualChipEfuse } from './virtual-chip.js';

export function openController(chip: string, target: EspefuseTarget, opts: EspefuseOptions = {}): EfuseController {
  if (target?.kind === 'port') return new PortEfuse(chip, target.port, { ...opts, ...(target.baud ? { baud: target.baud } : {}) });
  if (target?.kind === 'virt') return new VirtualChipEfuse(chip, target.image, opts);
  throw new TypeError('target must be {kind: "virt", image} or {kind: "port", port}');
}

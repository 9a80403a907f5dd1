// efuse-attest list: serial ports, with likely ESP32 links marked.
import { listPorts, type PortEntry } from '../../ports.js';
import type { Command } from '../command.js';

export const list: Command = {
  name: 'list',
  summary: 'list serial ports, marking likely ESP32 USB bridges',
  usage: 'efuse-attest list [--json]\n\nA "*" marks a port whose USB VID:PID is a bridge ESP32 boards use.',
  options: {},
  async run() {
    return listPorts();
  },
  format(ports: PortEntry[]) {
    if (ports.length === 0) return 'no serial ports found';
    return ports.map((p) => `${p.likelyEsp32 ? '*' : ' '} ${p.path}${p.vendorId ? `  ${p.vendorId}:${p.productId}` : ''}${p.bridge ? `  ${p.bridge}` : p.manufacturer ? `  ${p.manufacturer}` : ''}`).join('\n');
  },
};

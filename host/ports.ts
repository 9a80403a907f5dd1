// Serial port discovery. The platform binding's list() (@serialport/bindings-cpp, the same binding the
// transport opens ports with) asks udevadm on Linux; where udev is absent (containers,
// minimal images) this falls back to reading /sys/class/tty, so `efuse-attest list` still works.
// Likely ESP32 links are marked by USB vendor/product id.
import { readdir, readFile, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { binding } from './transport/binding.js';

export interface PortEntry {
  path: string;
  vendorId?: string;
  productId?: string;
  manufacturer?: string;
  serialNumber?: string;
  /** What the VID:PID says, when it is a bridge ESP32 boards use. */
  bridge?: string;
  likelyEsp32: boolean;
}

const BRIDGES: Record<string, string> = {
  '303a:1001': 'Espressif USB-Serial/JTAG (ESP32-S3/C3/C6/H2 built-in)',
  '303a:0002': 'Espressif USB CDC (ESP32-S2/S3 native USB)',
  '10c4:ea60': 'Silicon Labs CP210x',
  '1a86:7523': 'WCH CH340',
  '1a86:55d4': 'WCH CH9102',
  '0403:6001': 'FTDI FT232R',
  '0403:6010': 'FTDI FT2232 (ESP-Prog)',
  '0403:6014': 'FTDI FT232H',
};

export function describeBridge(vendorId?: string, productId?: string): string | undefined {
  if (!vendorId || !productId) return undefined;
  return BRIDGES[`${vendorId.toLowerCase()}:${productId.toLowerCase()}`];
}

function entry(path: string, p: Partial<PortEntry>): PortEntry {
  const bridge = describeBridge(p.vendorId, p.productId);
  return { path, ...p, ...(bridge ? { bridge } : {}), likelyEsp32: bridge !== undefined };
}

async function readText(path: string): Promise<string | undefined> {
  try { return (await readFile(path, 'utf8')).trim(); } catch { return undefined; }
}

async function listSysfs(root = '/sys/class/tty'): Promise<PortEntry[]> {
  let names: string[];
  try { names = await readdir(root); } catch { return []; }
  const out: PortEntry[] = [];
  for (const name of names) {
    let dev: string;
    try { dev = await realpath(join(root, name, 'device')); } catch { continue; } // virtual tty: no device
    if (/serial8250/.test(dev) && !/^ttyS[0-3]$/.test(name)) continue;
    // Walk up to the USB device that carries idVendor/idProduct.
    let usb: string | undefined;
    for (let d = dev; d !== '/' && d.length > 1; d = join(d, '..')) {
      if (await readText(join(d, 'idVendor'))) { usb = d; break; }
    }
    const p: Partial<PortEntry> = {};
    if (usb) {
      p.vendorId = await readText(join(usb, 'idVendor'));
      p.productId = await readText(join(usb, 'idProduct'));
      const m = await readText(join(usb, 'manufacturer'));
      const s = await readText(join(usb, 'serial'));
      if (m) p.manufacturer = m;
      if (s) p.serialNumber = s;
    }
    out.push(entry(`/dev/${name}`, p));
  }
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

export async function listPorts(): Promise<PortEntry[]> {
  try {
    const ports = await binding.list();
    return ports.map((p) => entry(p.path, {
      ...(p.vendorId ? { vendorId: p.vendorId } : {}),
      ...(p.productId ? { productId: p.productId } : {}),
      ...(p.manufacturer ? { manufacturer: p.manufacturer } : {}),
      ...(p.serialNumber ? { serialNumber: p.serialNumber } : {}),
    }));
  } catch {
    return listSysfs();
  }
}

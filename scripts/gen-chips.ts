// The chip table (protocol/chips.ts) for the emulator's C, written when make runs so the C never
// restates it: OUT_DIR/chip_table.h, and the emulated chips' names on stdout (the Makefile's list of
// builds). The header is rewritten only when it changes, so make rebuilds nothing otherwise.
//
// Usage: node dist/scripts/gen-chips.js OUT_DIR
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHIP_TABLE } from '../protocol/chips.js';

/** The text of chip_table.h. */
export function chipTableHeader(): string {
  const rows = CHIP_TABLE.map((c) => `\tX("${c.name}", ${c.model}, ${c.hmac ? 1 : 0}, ${c.keyBlocks}, 0x${c.imageSize.toString(16)}, ${c.emulated ? 1 : 0})`);
  const names = (chips: readonly { name: string }[]) => `"${chips.map((c) => c.name).join(', ')}"`;
  return [
    '/* The chip table: GENERATED from protocol/chips.ts by scripts/gen-chips.ts (make). Do not edit. */',
    '#pragma once',
    '',
    '/* X(name, esp_chip_model_t, HMAC peripheral, key blocks with a purpose, eFuse image bytes, emulated). */',
    '#define CHIP_TABLE(X) \\',
    rows.join(' \\\n'),
    '',
    '/* Names, for messages: every chip, and the chips the emulator is built for. */',
    `#define CHIP_NAMES ${names(CHIP_TABLE)}`,
    `#define EMULATED_CHIP_NAMES ${names(CHIP_TABLE.filter((c) => c.emulated))}`,
    '',
  ].join('\n');
}

function main(argv: string[]): void {
  if (argv.length !== 1) {
    process.stderr.write('usage: gen-chips.js OUT_DIR\n');
    process.exit(2);
  }
  const [dir] = argv as [string];
  mkdirSync(dir, { recursive: true });
  const out = join(dir, 'chip_table.h');
  const text = chipTableHeader();
  let old = '';
  try { old = readFileSync(out, 'utf8'); } catch { /* a first run */ }
  if (old !== text) {
    writeFileSync(out + '.tmp', text);
    renameSync(out + '.tmp', out);
  }
  process.stdout.write(CHIP_TABLE.filter((c) => c.emulated).map((c) => c.name).join(' ') + '\n');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main(process.argv.slice(2));

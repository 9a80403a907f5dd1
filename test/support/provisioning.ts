// The provisioning tests' shared harness (provision.test.ts, provision-crash.test.ts,
// provision-cli.test.ts): the built CLI and the crash runner as child processes, the fuses and the
// vault read back, the safety invariant, the default challenge on the emulator, and the check that
// no key shows up in any text.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHex } from '../../protocol/index.js';
import type { EscrowRecord } from '../../host/escrow/store.js';
import { FileVault } from '../../host/escrow/vault.js';
import { Espefuse, shellQuote } from '../../host/espefuse/driver.js';
import { isBurnedHmacUp, keyBlock, type EfuseSummary } from '../../host/espefuse/summary.js';
import { createVirtualChip, readSilicon } from '../../host/espefuse/virtual.js';
import { VirtualChipEfuse } from '../../host/efuse/virtual-chip.js';
import type { AuditEntry } from '../../host/provision/audit.js';
import { defaultChallenge } from '../../host/provision/challenge.js';
import type { CrashRun } from './crash-run.js';
import { ROOT } from './vectors.js';

export const PASS = 'provisioning test passphrase';
export const BLOCK = 'BLOCK_KEY0';

export interface Run { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; pid: number }

/** Runs the built CLI with stdin a closed pipe (no terminal); `env` adds to a clean environment. */
export function efa(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return spawnCollect(process.execPath, [ROOT + 'dist/host/cli/bin.js', ...args], { ...process.env, EFUSE_ATTEST_PASSPHRASE: PASS, ...env });
}

/** The library's provisioning of one virtual chip, killed (SIGKILL) right after `run.step` (support/crash-run.ts). */
export function crashRun(run: CrashRun): Promise<Run> {
  return spawnCollect(process.execPath, [ROOT + 'dist/test/support/crash-run.js', JSON.stringify(run)], { ...process.env, EFUSE_ATTEST_PASSPHRASE: PASS });
}

export function spawnCollect(cmd: string, args: string[], env: NodeJS.ProcessEnv, answer?: { after: RegExp; text: string }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, cwd: ROOT });
    let stdout = '';
    let stderr = '';
    let answered = false;
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${args.join(' ')} timed out`)); }, 60_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      if (answer && !answered && answer.after.test(stdout)) { answered = true; child.stdin.write(answer.text); }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr, pid: child.pid ?? -1 }); });
    if (!answer) child.stdin.end();
  });
}

/** Runs the CLI on a pseudo-terminal (util-linux `script`) and types `text` at the BURN prompt. */
export function efaOnTerminal(args: string[], text: string): Promise<Run> {
  const command = [process.execPath, ROOT + 'dist/host/cli/bin.js', ...args].map(shellQuote).join(' ');
  const env: NodeJS.ProcessEnv = { ...process.env, EFUSE_ATTEST_PASSPHRASE: PASS };
  return spawnCollect('script', ['-qec', command, '/dev/null'], env, { after: /Type BURN to continue/, text });
}

export async function fuses(chip: string, image: string): Promise<EfuseSummary> {
  const ef = new Espefuse(chip, { kind: 'virt', image });
  try { return await ef.summary(); } finally { await ef.close(); }
}

export async function escrowed(vault: string, deviceId: string): Promise<EscrowRecord | undefined> {
  return new FileVault(vault, { passphrase: PASS }).get(deviceId, BLOCK);
}

export async function siliconKey(image: string): Promise<string | undefined> {
  return (await readSilicon(image))?.keys[BLOCK];
}

export function auditOf(path: string): AuditEntry[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as AuditEntry);
}

/** Every way a key could show up in text: hex in both cases, base64 with and without padding, base64url. */
export function renderings(key: Uint8Array | string): string[] {
  const b = typeof key === 'string' ? Buffer.from(key, 'hex') : Buffer.from(key);
  const hex = b.toString('hex');
  return [hex, hex.toUpperCase(), b.toString('base64'), b.toString('base64').replace(/=+$/, ''), b.toString('base64url'), hex.match(/../g)!.join(' ')];
}

export function assertNoKeys(texts: Record<string, string>, keys: (Uint8Array | string)[]): void {
  assert.ok(keys.length > 0);
  for (const k of keys) {
    for (const r of renderings(k)) {
      for (const [name, text] of Object.entries(texts)) assert.ok(!text.includes(r), `a key appears in ${name}`);
    }
  }
}

/** Minimal RFC 4180 reader: quoted cells with "" escapes, commas and newlines inside quotes. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { cell += '"'; i++; } else if (c === '"') quoted = false; else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(cell); cell = ''; } else if (c === '\n') { row.push(cell); rows.push(row); row = []; cell = ''; } else cell += c;
  }
  assert.equal(cell + row.join(''), '', 'the CSV ends with a newline');
  return rows;
}

/** The safety invariant: a burned block is HMAC_UP and read-protected, and its key is escrowed, decrypts and is the silicon's. */
export async function invariant(chip: string, image: string, vault: string): Promise<{ summary: EfuseSummary; burned: boolean; rec?: EscrowRecord }> {
  const summary = await fuses(chip, image);
  const k = keyBlock(summary, BLOCK);
  const rec = existsSync(vault) ? await escrowed(vault, summary.mac) : undefined;
  if (!k.unused) {
    assert.ok(isBurnedHmacUp(k), `${BLOCK} is burned HMAC_UP and read-protected`);
    assert.ok(rec, 'a burned block has its escrow record');
    assert.equal(toHex(rec.key), await siliconKey(image), 'the escrowed key is the key the silicon holds');
  }
  return { summary, burned: !k.unused, ...(rec ? { rec } : {}) };
}

/** The emulator on this image, challenged with `key` (the default challenge of provisioning). */
export async function challenge(chip: string, image: string, deviceId: string, key: Uint8Array): Promise<void> {
  const efuse = new VirtualChipEfuse(chip, image);
  try {
    await defaultChallenge({ timeoutMs: 5000 })({ efuse, chip, deviceId, block: BLOCK, slot: 0 }, key);
  } finally {
    await efuse.close();
  }
}


/**
 * A test directory for a describe block (removed after it): `workdir()` a fresh subdirectory with
 * its own vault and audit log paths, `blank()` a fresh virtual chip in it.
 */
export function workspace(prefix: string): {
  workdir: () => { d: string; vault: string; audit: string };
  blank: (chip: string, d: string, name?: string) => ReturnType<typeof createVirtualChip>;
} {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  return {
    workdir: () => {
      const d = join(dir, `w${++n}`);
      mkdirSync(d);
      return { d, vault: join(d, 'escrow.vault'), audit: join(d, 'audit.jsonl') };
    },
    blank: async (chip, d, name = chip) => createVirtualChip({ chip, out: join(d, `${name}.bin`) }),
  };
}

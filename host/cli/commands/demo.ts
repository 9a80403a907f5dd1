// efuse-attest demo: the whole system on an emulated chip, end to end, with real parts only:
//   a virtual chip made by espefuse → provision (keygen → escrow → burn-key HMAC_UP → check →
//   challenge) → boot the firmware in the emulator → INFO, ATTEST and TOKEN over the pty →
//   verify both with the escrowed key, and show that a wrong key is refused.
// Everything it makes is left in one directory (default .efuse-attest/demo) for inspection with
// the other commands; the vault passphrase is a fresh random one written there (0600).
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { chipsWith, requireChip, toHex } from '../../../protocol/index.js';
import { Client } from '../../client.js';
import { startEmulator } from '../../emulator.js';
import { EfuseAttestError, EscrowError, UsageError, VerificationError } from '../../errors.js';
import { FileVault } from '../../escrow/vault.js';
import { createVirtualChip } from '../../espefuse/virtual.js';
import { VirtualChipEfuse } from '../../efuse/virtual-chip.js';
import { generateKey, wipe } from '../../keys.js';
import { AuditLog } from '../../provision/audit.js';
import { defaultChallenge } from '../../provision/challenge.js';
import { provisionDevice } from '../../provision/sequence.js';
import { verifyAttestation, verifyToken } from '../../verify.js';
import { type Command, type Context, str } from '../command.js';
import { describeInfo, type InfoOutput } from './info.js';
import { printable } from '../printable.js';

export const DEFAULT_DEMO_DIR = '.efuse-attest/demo';
// The firmware's key roles: BLOCK_KEY0 attests, BLOCK_KEY1 signs cloud tokens (docs/security.md).
const BLOCK = 'BLOCK_KEY0';
const TOKEN_BLOCK = 'BLOCK_KEY1';
const RESOURCE = 'demo-hub.azure-devices.net/devices/';

interface Step { step: string; ms: number; detail: string }

export interface DemoResult {
  chip: string;
  deviceId: string;
  dir: string;
  files: { image: string; vault: string; passphrase: string; audit: string };
  steps: Step[];
  info: InfoOutput;
  attestation: { verified: true; nonce: string; slot: number; readProtected: boolean };
  token: { verified: true; resource: string; expiry: number };
  wrongKeyRefused: string;
  /** Lines of boot text the host skipped between frames. */
  bootLines: number;
}

/** A directory the demo may fill: its own default (emptied), or a new or empty one the user names. */
async function prepareDir(given: string | undefined): Promise<string> {
  const dir = resolve(given ?? DEFAULT_DEMO_DIR);
  if (given === undefined) await rm(dir, { recursive: true, force: true });
  else {
    const st = await stat(dir).catch(() => undefined);
    if (st && !st.isDirectory()) throw new UsageError(`--dir ${printable(given)} exists and is not a directory; give a new or empty directory`);
    const entries = await readdir(dir).catch(() => [] as string[]);
    if (entries.length > 0) throw new UsageError(`--dir ${printable(given)} is not empty; give a new or empty directory`);
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return dir;
}

async function timed<T>(steps: Step[], ctx: Context, step: string, fn: () => Promise<T>, detail: (r: T) => string): Promise<T> {
  const t0 = Date.now();
  const r = await fn();
  const s = { step, ms: Date.now() - t0, detail: detail(r) };
  steps.push(s);
  ctx.note(`  ${step.padEnd(10)} ${s.detail} (${(s.ms / 1000).toFixed(1)} s)`);
  return r;
}

export const demo: Command = {
  name: 'demo',
  summary: 'provision → boot → attest an emulated chip end to end (espefuse, XS emulator, serialport)',
  usage: `efuse-attest demo [--chip esp32s3] [--dir DIR]

Makes a virtual chip with espefuse, provisions it (a random key escrowed in an encrypted vault,
burned into ${BLOCK} with purpose HMAC_UP and read-protected, checked, challenged), boots the
firmware in the emulator on a pseudo-terminal, then asks it for INFO, an attestation and a SAS
token over serialport and verifies both with the escrowed key; a wrong key must be refused.

  --chip NAME   an emulated chip with the HMAC peripheral: ${chipsWith('hmac', 'emulated').join(', ')}
                (default esp32s3)
  --dir DIR     where to leave the chip, vault, passphrase and audit log (a new or empty
                directory; default ${DEFAULT_DEMO_DIR}, emptied first)`,
  options: { chip: { type: 'string' }, dir: { type: 'string' } },
  async run(values, _p, ctx): Promise<DemoResult> {
    const chip = str(values, 'chip') ?? 'esp32s3';
    requireChip(chip, 'hmac', 'emulated');
    const dir = await prepareDir(str(values, 'dir'));
    const files = {
      image: join(dir, `${chip}.bin`), vault: join(dir, 'escrow.vault'), passphrase: join(dir, 'passphrase'), audit: join(dir, 'audit.jsonl'),
    };
    const steps: Step[] = [];
    ctx.note(`efuse-attest demo: ${chip}, files in ${dir}`);

    const made = await timed(steps, ctx, 'chip', () => createVirtualChip({ chip, out: files.image }),
      (c) => `virtual ${chip} made by espefuse, device id ${c.deviceId}`);
    const passphrase = randomBytes(18).toString('base64url');
    await writeFile(files.passphrase, passphrase + '\n', { mode: 0o600 });
    const vault = await FileVault.open(files.vault, { passphrase });

    // Two keys, one per role: the attestation key and the cloud token key.
    const keys: Uint8Array[] = [];
    for (const [step, block] of [['provision', BLOCK], ['provision token key', TOKEN_BLOCK]] as const) {
      const efuse = new VirtualChipEfuse(chip, files.image);
      const provisioned = await timed(steps, ctx, step, () => provisionDevice({
        efuse, store: vault, audit: new AuditLog(files.audit), block, challenge: defaultChallenge({ timeoutMs: 5000 }),
      }).finally(() => efuse.close()), (r) => `${block}: ${r.outcome}: ${r.steps.filter((s) => s.outcome === 'ok').map((s) => s.step).join(' → ')}`);
      if (provisioned.outcome !== 'provisioned') {
        const e = provisioned.error;
        // The code and exit code of its cause; only an outcome without one is a plain failure.
        throw new EfuseAttestError(`provisioning ${block} ended ${provisioned.outcome}${e ? `: ${e.message}` : ''}`, e?.code, e?.exitCode, { cause: e });
      }
      const record = await vault.get(made.deviceId, block);
      if (!record) throw new EscrowError(`the vault has no key for device ${made.deviceId} ${block} after provisioning`, 'ESCROW_MISSING');
      keys.push(Uint8Array.from(record.key));
      wipe(record.key);
    }
    const [key, tokenKey] = keys as [Uint8Array, Uint8Array];
    const wrong = generateKey();
    let bootLines = 0;
    const emulator = await timed(steps, ctx, 'boot', () => startEmulator({ chip, efuse: files.image }), (e) => `firmware on XS, UART on ${e.path}`);
    let client: Client | undefined;
    try {
      client = await Client.open(emulator.path, { timeoutMs: 5000, retries: 2, onLog: () => { bootLines++; } });
      const c = client;
      const info = await timed(steps, ctx, 'info', async () => describeInfo(await c.info()), (i) => {
        const k = i.keyBlocks[0];
        return `${i.chip} ${i.revision}, ${k.block} ${k.purpose}${k.readProtected ? ' read-protected' : ''}`;
      });
      // A reset makes the boot ROM print on the line again, as a board does; framing must skip it.
      await timed(steps, ctx, 'reset', () => emulator.reset(), () => 'the chip restarts; its boot text is on the line');
      const attestation = await timed(steps, ctx, 'attest', async () => {
        const att = await c.attest({ slot: 0 });
        const v = verifyAttestation(att, { key, deviceId: made.deviceId, slot: 0 });
        try {
          verifyAttestation(att, { key: wrong, deviceId: made.deviceId, slot: 0 });
        } catch (err) {
          if (!(err instanceof VerificationError)) throw err;
          return { att, v, refused: err.message };
        }
        throw new EfuseAttestError('an attestation verified with a wrong key');
      }, (r) => `verified with the escrowed key (${bootLines} boot text lines skipped); a wrong key: ${r.refused}`);
      const resource = RESOURCE + made.deviceId;
      const expiry = Math.floor(Date.now() / 1000) + 3600;
      await timed(steps, ctx, 'token', async () => {
        const t = await c.token({ resource, expiry, slot: 1 });
        verifyToken(t, { key: tokenKey, resource, deviceId: made.deviceId });
        return t;
      }, (t) => `verified with the escrowed token key (BLOCK_KEY1): ${t.slice(0, 48)}…`);
      return {
        chip, deviceId: made.deviceId, dir, files, steps, info,
        attestation: { verified: true, nonce: toHex(attestation.att.nonce), slot: attestation.v.slot, readProtected: attestation.v.readProtected },
        token: { verified: true, resource, expiry },
        wrongKeyRefused: attestation.refused,
        bootLines,
      };
    } finally {
      wipe(key);
      wipe(tokenKey);
      await client?.close();
      await emulator.stop();
    }
  },
  format(r: DemoResult) {
    return [
      `device ${r.deviceId} (${r.chip}): provisioned, booted, attested and verified; a wrong key is refused.`,
      `Look around: efuse-attest chip show --chip ${r.chip} --virt ${r.files.image}`,
      `             efuse-attest escrow list --vault ${r.files.vault} --passphrase-file ${r.files.passphrase}`,
      `             efuse-attest emulate --chip ${r.chip} --efuse ${r.files.image}`,
    ].join('\n');
  },
};

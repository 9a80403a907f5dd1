// efuse-attest verify: check a saved attestation or a SAS token against the escrowed key, offline.
// A saved attestation proves freshness only against the challenge it answered: with --nonce the
// verifier checks that it answers this one; without, the output says freshness was not checked.
// A token is read from a file or standard input (--token-file), since a command line shows in `ps`.
import { equalBytes, fromHex, toHex } from '../../../protocol/index.js';
import { KEY_SLOTS } from '../../../protocol/keyblock.js';
import { UsageError, VerificationError } from '../../errors.js';
import { attestationFromJson } from '../../serialize.js';
import { DEFAULT_MAX_TOKEN_LIFETIME, verifyAttestation, verifyToken } from '../../verify.js';
import { type Command, int, str } from '../command.js';
import { readKeyFile, readRegularFile } from '../files.js';
import { POLICY_OPTIONS, POLICY_USAGE, policyFrom } from '../policy.js';
import { printable } from '../printable.js';

const MAX_INPUT = 1 << 20;

function readStdin(): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let s = '';
    process.stdin.setEncoding('utf8').on('data', (d) => {
      s += d;
      if (s.length > MAX_INPUT) reject(new UsageError(`standard input is larger than ${MAX_INPUT} bytes`));
    }).on('end', () => resolve(s)).on('error', reject);
  });
}

/** A file's text, or standard input's for "-"; only regular files (a FIFO would hang). */
async function readText(path: string, what: string): Promise<string> {
  return path === '-' ? readStdin() : (await readRegularFile(path, what, MAX_INPUT)).toString('utf8');
}

async function readJson(path: string): Promise<unknown> {
  const text = await readText(path, '--attestation');
  let v: unknown;
  try { v = JSON.parse(text); } catch { throw new UsageError(`${path === '-' ? 'standard input' : printable(path)} is not valid JSON`); }
  // Accept `attest --json` output as it is, too.
  const o = v as { ok?: unknown; result?: { attestation?: unknown } };
  return o && o.ok === true && o.result?.attestation ? o.result.attestation : v;
}

/** The token in a file (or "-"): its first line, surrounding white space removed. */
async function readToken(path: string): Promise<string> {
  const line = (await readText(path, '--token-file')).split(/\r?\n/).find((l) => l.trim() !== '');
  if (line === undefined) throw new UsageError(`${path === '-' ? 'standard input' : printable(path)} holds no token`);
  return line.trim();
}

export const verify: Command = {
  name: 'verify',
  summary: 'verify a saved attestation (from attest --out) or a SAS token with the escrowed key',
  usage: `efuse-attest verify --attestation att.json --key key.bin [--nonce HEX] [policy options]
efuse-attest verify --token-file token.txt --key key.bin [--resource URI] [--device-id ID] [--key-name NAME]

  --attestation FILE  attestation JSON ("-" for standard input)
  --nonce HEX         the challenge this attestation must answer (checks freshness; without it
                      the output says freshness was not checked)
  --token-file FILE   a file holding a SAS token on its first line ("-" for standard input)
  --token TEXT        a SAS token on the command line (visible to other users in ps: prefer --token-file)
  --key FILE          the escrowed 32-byte key
  --slot N            the key slot that must have been used
  --key FILE          for a token: the escrowed token key (BLOCK_KEY1), not the attestation key
  --resource URI      the resource the token must be for
  --device-id ID      the device the token's resource must name (<hub>/devices/ID)
  --key-name NAME     the skn the token must carry ("" for none)
  --max-lifetime S    refuse a token valid for more than S seconds from now (default 86400)
  --now SECONDS       the time to check token expiry against (default now)
${POLICY_USAGE}

Exit code 3 when it does not verify.`,
  options: {
    ...POLICY_OPTIONS, attestation: { type: 'string', short: 'a' }, nonce: { type: 'string' }, token: { type: 'string' }, 'token-file': { type: 'string' },
    key: { type: 'string', short: 'k' }, slot: { type: 'string' }, resource: { type: 'string' }, now: { type: 'string' },
    'device-id': { type: 'string' }, 'key-name': { type: 'string' }, 'max-lifetime': { type: 'string' },
  },
  async run(values) {
    const keyPath = str(values, 'key');
    if (!keyPath) throw new UsageError('--key is required');
    const attPath = str(values, 'attestation');
    const tokenFile = str(values, 'token-file');
    const tokenArg = str(values, 'token');
    if ([attPath, tokenFile, tokenArg].filter((v) => v !== undefined).length !== 1) throw new UsageError('give exactly one of --attestation, --token-file and --token');
    if (attPath === undefined && str(values, 'nonce') !== undefined) throw new UsageError('--nonce goes with --attestation');
    const key = await readKeyFile(keyPath);
    if (attPath === undefined) {
      const token = tokenArg ?? await readToken(tokenFile!);
      const resource = str(values, 'resource');
      const now = str(values, 'now');
      const deviceId = str(values, 'device-id');
      const keyName = str(values, 'key-name');
      return {
        token: verifyToken(token, {
          key, ...(resource ? { resource } : {}), ...(now ? { now: int(values, 'now', 0, 0, 0xffffffff) } : {}),
          ...(deviceId !== undefined ? { deviceId } : {}), ...(keyName !== undefined ? { keyName } : {}),
          maxLifetimeSeconds: int(values, 'max-lifetime', DEFAULT_MAX_TOKEN_LIFETIME, 1, 0xffffffff),
        }),
      };
    }
    const nonceHex = str(values, 'nonce');
    const nonce = nonceHex !== undefined ? fromHex(nonceHex, '--nonce') : undefined;
    const att = attestationFromJson(await readJson(attPath));
    const deviceId = str(values, 'device-id');
    const slot = str(values, 'slot');
    const verified = verifyAttestation(att, {
      key, policy: policyFrom(values), ...(deviceId ? { deviceId } : {}), ...(slot ? { slot: int(values, 'slot', 0, 0, KEY_SLOTS - 1) } : {}),
    });
    if (nonce && !equalBytes(nonce, att.nonce)) {
      throw new VerificationError('NONCE', `the attestation answers the challenge ${toHex(att.nonce)}, not --nonce ${toHex(nonce)}: it is not fresh`);
    }
    return { attestation: verified, freshness: nonce ? 'checked' : 'not checked' };
  },
  format(r: { token?: { resource: string; expiry: number }; attestation?: { deviceId: string; chip: string; slot: number }; freshness?: string }) {
    if (r.token) return `token verified: ${printable(r.token.resource)}, valid until ${new Date(r.token.expiry * 1000).toISOString()}`;
    const a = r.attestation!;
    return `attestation verified: device ${a.deviceId} (${a.chip}), BLOCK_KEY${a.slot}\n` +
      (r.freshness === 'checked' ? 'freshness checked: it answers the challenge given with --nonce'
        : 'freshness NOT checked: any earlier answer of this device verifies too; give --nonce with the challenge you issued');
  },
};

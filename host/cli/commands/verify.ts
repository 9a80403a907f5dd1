// efuse-attest verify: check a saved attestation or a SAS token against the escrowed key, offline.
import { readFile } from 'node:fs/promises';
import { attestationFromJson } from '../../serialize.js';
import { verifyAttestation, verifyToken } from '../../verify.js';
import { type Command, int, str } from '../command.js';
import { readKeyFile } from '../common.js';
import { POLICY_OPTIONS, POLICY_USAGE, policyFrom } from '../policy.js';

async function readJson(path: string): Promise<unknown> {
  const text = path === '-' ? await new Promise<string>((resolve, reject) => {
    let s = '';
    process.stdin.setEncoding('utf8').on('data', (d) => { s += d; }).on('end', () => resolve(s)).on('error', reject);
  }) : await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => { throw new RangeError(`cannot read ${path}: ${err.code ?? err.message}`); });
  let v: unknown;
  try { v = JSON.parse(text); } catch { throw new RangeError(`${path === '-' ? 'standard input' : path} is not valid JSON`); }
  // Accept `attest --json` output as it is, too.
  const o = v as { ok?: unknown; result?: { attestation?: unknown } };
  return o && o.ok === true && o.result?.attestation ? o.result.attestation : v;
}

export const verify: Command = {
  name: 'verify',
  summary: 'verify a saved attestation (from attest --out) or a SAS token with the escrowed key',
  usage: `efuse-attest verify --attestation att.json --key key.bin [policy options]
efuse-attest verify --token "SharedAccessSignature sr=…" --key key.bin [--resource URI]

  --attestation FILE  attestation JSON ("-" for standard input)
  --token TEXT        a SAS token
  --key FILE          the escrowed 32-byte key
  --slot N            the key slot that must have been used
  --resource URI      the resource the token must be for
  --now SECONDS       the time to check token expiry against (default now)
${POLICY_USAGE}

Exit code 3 when it does not verify.`,
  options: { ...POLICY_OPTIONS, attestation: { type: 'string', short: 'a' }, token: { type: 'string' }, key: { type: 'string', short: 'k' }, slot: { type: 'string' }, resource: { type: 'string' }, now: { type: 'string' } },
  async run(values) {
    const keyPath = str(values, 'key');
    if (!keyPath) throw new RangeError('--key is required');
    const attPath = str(values, 'attestation');
    const token = str(values, 'token');
    if ((attPath === undefined) === (token === undefined)) throw new RangeError('give exactly one of --attestation and --token');
    const key = await readKeyFile(keyPath);
    if (token !== undefined) {
      const resource = str(values, 'resource');
      const now = str(values, 'now');
      return { token: verifyToken(token, { key, ...(resource ? { resource } : {}), ...(now ? { now: int(values, 'now', 0, 0, 0xffffffff) } : {}) }) };
    }
    const att = attestationFromJson(await readJson(attPath!));
    const deviceId = str(values, 'device-id');
    const slot = str(values, 'slot');
    return {
      attestation: verifyAttestation(att, {
        key, policy: policyFrom(values), ...(deviceId ? { deviceId } : {}), ...(slot ? { slot: int(values, 'slot', 0, 0, 5) } : {}),
      }),
    };
  },
  format(r: { token?: { resource: string; expiry: number }; attestation?: { deviceId: string; chip: string; slot: number } }) {
    if (r.token) return `token verified: ${r.token.resource}, valid until ${new Date(r.token.expiry * 1000).toISOString()}`;
    const a = r.attestation!;
    return `attestation verified: device ${a.deviceId} (${a.chip}), BLOCK_KEY${a.slot}`;
  },
};

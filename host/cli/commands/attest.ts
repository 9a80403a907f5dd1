// efuse-attest attest: challenge a device; with --key, verify its answer on the spot.
import { stat, writeFile } from 'node:fs/promises';
import { describeIoError } from '../../atomic.js';
import { UsageError } from '../../errors.js';
import { fromHex } from '../../../protocol/index.js';
import { attestationToJson } from '../../serialize.js';
import { type VerifiedAttestation, verifyAttestation } from '../../verify.js';
import { type Command, str } from '../command.js';
import { DEVICE_OPTIONS, DEVICE_USAGE, slotOption, withClient } from '../common.js';
import { readKeyFile } from '../files.js';
import { POLICY_OPTIONS, POLICY_USAGE, policyFrom } from '../policy.js';
import { printable } from '../printable.js';

export const attest: Command = {
  name: 'attest',
  summary: 'challenge a device with a fresh nonce (and verify with --key)',
  usage: `efuse-attest attest --port PATH [--slot N] [--key key.bin] [--out att.json] [options]

  --slot N          eFuse key slot 0..5 (BLOCK_KEY0..5, default 0)
  --nonce HEX       use this challenge instead of 32 fresh random bytes (testing only)
  --key FILE        the escrowed 32-byte key: verify the answer (exit 3 if it does not verify)
  --out FILE        also write the attestation as JSON (input of \`efuse-attest verify\`); with
                    --key, only once it has verified
${DEVICE_USAGE}
${POLICY_USAGE}`,
  options: { ...DEVICE_OPTIONS, ...POLICY_OPTIONS, slot: { type: 'string' }, nonce: { type: 'string' }, key: { type: 'string', short: 'k' }, out: { type: 'string', short: 'o' } },
  async run(values, _p, ctx) {
    const slot = slotOption(values);
    const nonceHex = str(values, 'nonce');
    const keyPath = str(values, 'key');
    const key = keyPath ? await readKeyFile(keyPath) : undefined;
    const out = str(values, 'out');
    // A bad --out is found before the device is asked, not after.
    if (out !== undefined) {
      const st = await stat(out).catch(() => undefined);
      if (st?.isDirectory()) throw new UsageError(`--out ${printable(out)} is a directory; give a file name`);
      if (st && !st.isFile()) throw new UsageError(`--out ${printable(out)} is not a regular file`);
    }
    const att = await withClient(values, ctx, (c) => c.attest({ slot, ...(nonceHex ? { nonce: fromHex(nonceHex, '--nonce') } : {}) }));
    const json = attestationToJson(att);
    let verified: VerifiedAttestation | undefined;
    if (key) {
      const deviceId = str(values, 'device-id');
      verified = verifyAttestation(att, { key, slot, policy: policyFrom(values), ...(deviceId ? { deviceId } : {}) });
    }
    // Written only now: with --key, an answer that does not verify never lands in the file.
    if (out !== undefined) {
      try {
        await writeFile(out, JSON.stringify(json, null, 2) + '\n');
      } catch (err) {
        throw new UsageError(`cannot write --out ${printable(out)}: ${describeIoError(err)}`);
      }
    }
    return { attestation: json, ...(verified ? { verified } : {}) };
  },
  format(r: { attestation: { response: Record<string, unknown> }; verified?: VerifiedAttestation }) {
    const a = r.attestation.response;
    const head = `device ${String(a.deviceId)} answered with key slot ${String(a.slot)}`;
    if (!r.verified) return `${head}\nMAC ${String(a.mac)}\nnot verified (give --key to verify)`;
    return `${head}\nverified: ${r.verified.chip}, BLOCK_KEY${r.verified.slot} HMAC_UP${r.verified.readProtected ? ', read-protected' : ''}, firmware ${printable(r.verified.firmwareVersion)}`;
  },
};

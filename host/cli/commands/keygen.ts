// efuse-attest keygen: make a device key file — 32 random bytes from the OS CSPRNG, or the DPS
// group-enrollment key of one device derived from a master (docs/provisioning.md §4). The key goes
// to a 0600 file; it is printed only with --reveal.
import { toHex } from '../../../protocol/index.js';
import { UsageError } from '../../errors.js';
import { deriveKey, generateKey, wipe } from '../../keys.js';
import { parseDeviceId } from '../../../protocol/deviceid.js';
import { type Command, str } from '../command.js';
import { readMasterFile, writeKeyFile } from '../secrets.js';

export const keygen: Command = {
  name: 'keygen',
  summary: 'make a 32-byte device key file (random, or derived from a master)',
  usage: `efuse-attest keygen --out key.bin [--force]
efuse-attest keygen --master group.key --device-id aabbccddeeff --out key.bin
efuse-attest keygen --master group.key --registration-id sn-007-888-abc --out key.bin

  --out FILE        write the raw 32-byte key (mode 0600), as espefuse burn-key takes it
  --force           replace an existing FILE
  --master FILE     derive the key: HMAC-SHA256(master, device id) (Azure DPS group enrollment);
                    FILE holds the raw master bytes (base64 -d of a DPS group key)
  --device-id HEX   the device (its factory MAC, 12 hex digits): its registration id
  --registration-id ID  a DPS registration id of your own scheme instead (1..128 of a-z 0-9 - . _ :),
                    e.g. sn-007-888-abc; --master needs one of --device-id and --registration-id
  --reveal          print the key as hex (it is a secret: only where no one else can see)

Keys made here are not escrowed: \`efuse-attest provision\` makes and escrows keys itself;
\`efuse-attest escrow import\` adds a key file to the escrow.`,
  options: {
    out: { type: 'string', short: 'o' }, force: { type: 'boolean' }, master: { type: 'string' },
    'device-id': { type: 'string' }, 'registration-id': { type: 'string' }, reveal: { type: 'boolean' },
  },
  async run(values) {
    const out = str(values, 'out');
    const reveal = values.reveal === true;
    if (!out && !reveal) throw new UsageError('give --out FILE to write the key (or --reveal to print it)');
    const masterPath = str(values, 'master');
    const idText = str(values, 'device-id');
    const regId = str(values, 'registration-id');
    if (idText !== undefined && regId !== undefined) throw new UsageError('give one of --device-id and --registration-id');
    if ((masterPath === undefined) !== (idText === undefined && regId === undefined)) {
      throw new UsageError('--master goes with --device-id or --registration-id, and they need --master');
    }
    let key: Uint8Array;
    let derivation: { registrationId: string; masterId: string } | undefined;
    if (masterPath !== undefined) {
      const master = await readMasterFile(masterPath);
      try {
        const d = deriveKey(master, regId ?? parseDeviceId(idText, '--device-id'));
        key = d.key;
        derivation = { registrationId: d.derivation.registrationId, masterId: d.derivation.masterId };
      } finally {
        wipe(master);
      }
    } else {
      key = generateKey();
    }
    try {
      if (out) await writeKeyFile(out, key, values.force === true);
      return { ...(out ? { out } : {}), bytes: key.length, ...(derivation ? { derivation } : {}), ...(reveal ? { key: toHex(key) } : {}) };
    } finally {
      wipe(key);
    }
  },
  format(r: { out?: string; derivation?: { registrationId: string; masterId: string }; key?: string }) {
    const lines: string[] = [];
    if (r.out) lines.push(`wrote a 32-byte key to ${r.out}${r.derivation ? ` (derived for ${r.derivation.registrationId} from master ${r.derivation.masterId})` : ''}`);
    if (r.key) lines.push(r.key);
    return lines.join('\n');
  },
};

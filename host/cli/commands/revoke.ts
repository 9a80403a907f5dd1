// efuse-attest revoke: the revocation list that every verifier instance of a cluster reads (in the
// shared Redis store): add a device's key block (or one key generation in it), remove an entry, list
// them. Verifiers refuse a revoked device at once with VERIFY_REVOKED (docs/deployment.md).
import { blockName } from '../../../protocol/keyblock.js';
import { UsageError } from '../../errors.js';
import { parseDeviceId } from '../../../protocol/deviceid.js';
import { RedisConnection } from '../../verifier/redis.js';
import { RedisRevocationStore } from '../../verifier/redis-stores.js';
import { ageneration, keyGeneration, type Revocation, sortRevocations } from '../../verifier/revocation.js';
import { type Command, int, required, str, type Values } from '../command.js';
import { readKeyFile } from '../files.js';

export const REDIS_ENV = 'EFUSE_ATTEST_REDIS';

async function generationFrom(values: Values): Promise<string | undefined> {
  const gen = str(values, 'generation');
  const keyPath = str(values, 'key');
  if (gen !== undefined && keyPath !== undefined) throw new UsageError('give --generation or --key, not both');
  if (keyPath === undefined) return gen;
  const key = await readKeyFile(keyPath, '--key');
  try {
    return keyGeneration(key);
  } finally {
    key.fill(0);
  }
}

async function open(values: Values): Promise<RedisConnection> {
  const url = str(values, 'redis') ?? process.env[REDIS_ENV];
  if (!url) throw new UsageError(`revoke works on the verifiers' shared store: give --redis URL or set ${REDIS_ENV}`);
  const timeout = int(values, 'timeout', 2000, 1, 600_000);
  return RedisConnection.open({ url, ...(str(values, 'prefix') !== undefined ? { prefix: str(values, 'prefix')! } : {}), connectTimeoutMs: timeout, commandTimeoutMs: timeout });
}

type Result =
  | { store: string; added: Revocation }
  | { store: string; removed: boolean; deviceId: string; block: string; generation?: string }
  | { store: string; revocations: Revocation[] };

function describeEntry(e: { deviceId: string; block: string; generation?: string | undefined }): string {
  return `${e.deviceId} ${e.block}${e.generation ? ` key generation ${e.generation}` : ''}`;
}

export const revoke: Command = {
  name: 'revoke',
  summary: 'revoke a device key block for every verifier of a cluster; remove or list revocations',
  usage: `efuse-attest revoke add --device-id ID [--block BLOCK_KEY0] [--generation HEX | --key key.bin] [--reason TEXT]
efuse-attest revoke remove --device-id ID [--block BLOCK_KEY0] [--generation HEX | --key key.bin]
efuse-attest revoke list [--device-id ID]

  add      verifiers refuse the device's answers and tokens made with this key block (exit code 3,
           code VERIFY_REVOKED) from the moment this returns, on every instance
  remove   delete exactly this entry (same device, block and generation); says so when there was none
  list     every entry, or one device's

  --device-id ID      the device's factory MAC: 12 hex digits, "7c:df:a1:00:00:aa" and
                      "7C-DF-A1-00-00-AA" name the same device
  --block NAME        BLOCK_KEY0..BLOCK_KEY5, or 0..5 (default BLOCK_KEY0)
  --generation HEX    revoke only the key with this generation (16 hex digits) in the block;
                      without it, any key the block holds
  --key FILE          the same, the generation computed from the escrowed 32-byte key file
  --reason TEXT       shown with the refusal (at most 200 characters)
  --redis URL         the verifiers' shared store, redis://host:port[/db] (default $${REDIS_ENV})
  --prefix TEXT       key prefix the verifiers use (default efuse-attest:)
  --timeout MS        longest wait for the store (default 2000)

Exit code 9 when the store cannot be reached; nothing is changed then.`,
  options: {
    'device-id': { type: 'string' }, block: { type: 'string' }, generation: { type: 'string' }, key: { type: 'string', short: 'k' },
    reason: { type: 'string' }, redis: { type: 'string' }, prefix: { type: 'string' }, timeout: { type: 'string' },
  },
  positionals: true,
  async run(values, positionals): Promise<Result> {
    const [sub, ...extra] = positionals;
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
    if (sub !== 'add' && sub !== 'remove' && sub !== 'list') throw new UsageError('give a subcommand: revoke add | remove | list');
    // Check every argument before touching the store.
    const idText = sub === 'list' ? str(values, 'device-id') : required(values, 'device-id');
    const deviceId = idText === undefined ? undefined : parseDeviceId(idText, '--device-id');
    if (sub === 'list' && (str(values, 'block') ?? str(values, 'generation') ?? str(values, 'key') ?? str(values, 'reason')) !== undefined) {
      throw new UsageError('revoke list takes only --device-id');
    }
    if (sub === 'remove' && str(values, 'reason') !== undefined) throw new UsageError('revoke remove takes no --reason');
    const block = blockName(str(values, 'block') ?? 'BLOCK_KEY0', '--block');
    const gen = sub === 'list' ? undefined : await generationFrom(values);
    const generation = gen === undefined ? undefined : ageneration(gen, '--generation');
    const reason = str(values, 'reason');
    const conn = await open(values);
    try {
      const store = new RedisRevocationStore(conn);
      if (sub === 'add') {
        return { store: conn.address, added: await store.add({ deviceId: deviceId!, block, ...(generation !== undefined ? { generation } : {}), ...(reason !== undefined ? { reason } : {}) }) };
      }
      if (sub === 'remove') {
        const removed = await store.remove(deviceId!, block, generation);
        return { store: conn.address, removed, deviceId: deviceId!, block, ...(generation !== undefined ? { generation } : {}) };
      }
      return { store: conn.address, revocations: deviceId === undefined ? await store.list() : sortRevocations(await store.forDevice(deviceId)) };
    } finally {
      await conn.close();
    }
  },
  format(r: Result) {
    if ('added' in r) return `revoked ${describeEntry(r.added)}${r.added.reason ? ` (${r.added.reason})` : ''} in ${r.store}`;
    if ('removed' in r) return r.removed ? `removed the revocation of ${describeEntry(r)} from ${r.store}` : `${r.store} has no revocation of ${describeEntry(r)}: nothing removed`;
    if (r.revocations.length === 0) return `${r.store}: no revocations`;
    return r.revocations.map((e) => `${describeEntry(e).padEnd(50)}  ${e.revokedAt}${e.reason ? `  ${e.reason}` : ''}`).join('\n');
  },
};

// TOKEN (docs/protocol.md §4.4): the device signs an Azure-style SAS token with its eFuse key.
// The answer is checked before it is returned: a token in its one canonical spelling (§7.2) for the
// resource, expiry and key name asked for — not whatever text a device (or a bug) sent back.
import { aint, checkKeyName, checkResource, KEY_SLOTS, parseSasToken, TOKEN_SLOT } from '../../protocol/index.js';
import { VerificationError } from '../errors.js';
import type { Session } from '../session.js';

export interface TokenOptions {
  resource: string;
  /** Seconds since the Unix epoch; default one hour from now. */
  expiry?: number;
  /** Key block; default TOKEN_SLOT (1): the firmware signs tokens only with its token blocks. */
  slot?: number;
  /** SAS policy name (skn), empty for device-scoped tokens. */
  keyName?: string;
}

export async function token(session: Session, opts: TokenOptions): Promise<string> {
  const resource = checkResource(opts.resource);
  const expiry = aint(opts.expiry ?? Math.floor(Date.now() / 1000) + 3600, 'expiry', 1, 0xffffffff);
  const slot = aint(opts.slot ?? TOKEN_SLOT, 'slot', 0, KEY_SLOTS - 1);
  const keyName = checkKeyName(opts.keyName ?? '');
  const text = session.expect(await session.request({ type: 'token', slot, expiry, resource, keyName }), 'token').token;
  let t;
  try {
    t = parseSasToken(text);
  } catch (err) {
    throw new VerificationError('TOKEN', `the device answered with a malformed token: ${(err as Error).message}`);
  }
  if (t.resource !== resource) throw new VerificationError('TOKEN', `the device's token is for ${JSON.stringify(t.resource)}, not the requested ${JSON.stringify(resource)}`);
  if (t.expiry !== expiry) throw new VerificationError('TOKEN', `the device's token expires at ${t.expiry}, not the requested ${expiry}`);
  if (t.keyName !== keyName) throw new VerificationError('TOKEN', `the device's token names key ${JSON.stringify(t.keyName)}, not the requested ${JSON.stringify(keyName)}`);
  return text;
}

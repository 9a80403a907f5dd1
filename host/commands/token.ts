// TOKEN (docs/protocol.md §4.4): the device signs an Azure-style SAS token with its eFuse key.
import { aint, checkKeyName, checkResource, KEY_SLOTS } from '../../protocol/index.js';
import type { Session } from '../session.js';

export interface TokenOptions {
  resource: string;
  /** Seconds since the Unix epoch; default one hour from now. */
  expiry?: number;
  slot?: number;
  /** SAS policy name (skn), empty for device-scoped tokens. */
  keyName?: string;
}

export async function token(session: Session, opts: TokenOptions): Promise<string> {
  const resource = checkResource(opts.resource);
  const expiry = aint(opts.expiry ?? Math.floor(Date.now() / 1000) + 3600, 'expiry', 1, 0xffffffff);
  const slot = aint(opts.slot ?? 0, 'slot', 0, KEY_SLOTS - 1);
  const keyName = checkKeyName(opts.keyName ?? '');
  return session.expect(await session.request({ type: 'token', slot, expiry, resource, keyName }), 'token').token;
}

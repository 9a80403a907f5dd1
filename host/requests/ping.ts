// PING (docs/protocol.md §4.1): liveness and round-trip time.
import { abytes, equalBytes, MAX_PING } from '../../protocol/index.js';
import { ProtocolError } from '../errors.js';
import type { Session } from '../session.js';

export interface PingResult {
  roundTripMs: number;
}

export async function ping(session: Session, data: Uint8Array = new Uint8Array(8)): Promise<PingResult> {
  abytes(data, 'data', 0, MAX_PING);
  const t0 = performance.now();
  const res = session.expect(await session.request({ type: 'ping', data }), 'ping');
  if (!equalBytes(res.data, data)) throw new ProtocolError('device echoed different PING data');
  return { roundTripMs: performance.now() - t0 };
}

// INFO (docs/protocol.md §4.2): what the device says about itself — chip, factory MAC (device id),
// security state, firmware, and each eFuse key block's purpose and protection bits.
import type { DeviceInfo } from '../../protocol/index.js';
import type { Session } from '../session.js';

export async function info(session: Session): Promise<DeviceInfo> {
  return session.expect(await session.request({ type: 'info' }), 'info').info;
}

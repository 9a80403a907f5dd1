// A session's options are checked when it is made, each by the one integer validator, so a bad
// value is a clear RangeError or TypeError naming the option instead of a timer that never fires.
import assert from 'node:assert/strict';
import { Session } from '../host/session.js';
import { MemoryTransport } from '../host/transport/memory.js';

describe('session options', () => {
  const bad: [string, unknown, ErrorConstructor][] = [
    ['timeoutMs', 0, RangeError], ['timeoutMs', 2 ** 31, RangeError], ['timeoutMs', 1.5, TypeError],
    ['retries', -1, RangeError], ['retries', 101, RangeError],
    ['idleMs', 0, RangeError], ['idleMs', -5, RangeError], ['idleMs', 2.5, TypeError], ['idleMs', '50', TypeError], ['idleMs', 2 ** 31, RangeError],
  ];
  for (const [name, value, type] of bad) {
    it(`${name}: ${String(value)} is refused (${type.name} naming ${name})`, () => {
      const [a] = MemoryTransport.pair();
      assert.throws(() => new Session(a, { [name]: value }), (e: unknown) => e instanceof type && e.message.startsWith(name));
    });
  }

  it('the defaults and values in range are taken', async () => {
    const [a] = MemoryTransport.pair();
    await new Session(a, {}).close();
    const [b] = MemoryTransport.pair();
    await new Session(b, { timeoutMs: 1, retries: 0, idleMs: 1 }).close();
  });
});

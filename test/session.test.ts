// Session deadlines (host/session.ts): one timer serves every request in flight; a try's deadline
// runs from the send, plus the request's time on the line when the transport is a UART; a write
// that never completes (a port that stopped draining) still ends in TimeoutError.
import assert from 'node:assert/strict';
import { TimeoutError } from '../host/errors.js';
import { Session } from '../host/session.js';
import type { Transport } from '../host/transport/transport.js';

/** A transport that records writes and never answers; `stuck` writes never resolve. */
function silent(opts: { stuck?: boolean; baud?: number } = {}): Transport & { writes: number } {
  return {
    name: 'silent', isOpen: true, writes: 0,
    ...(opts.baud ? { baud: opts.baud } : {}),
    write(this: { writes: number }) { this.writes++; return opts.stuck ? new Promise<void>(() => {}) : Promise.resolve(); },
    onData() {}, onClose() {}, close: () => Promise.resolve(),
  };
}

describe('Session deadlines', () => {
  it('a write that never completes still times out after the tries', async () => {
    const t = silent({ stuck: true });
    const s = new Session(t, { timeoutMs: 20, retries: 1 });
    await assert.rejects(s.request({ type: 'info' }), (e: unknown) => e instanceof TimeoutError && /after 2 tries of 20 ms/.test((e as Error).message));
    assert.equal(t.writes, 2);
  });

  it('several requests in flight each time out on their own, each retried', async () => {
    const t = silent();
    const s = new Session(t, { timeoutMs: 15, retries: 2 });
    const results = await Promise.allSettled([s.request({ type: 'info' }), s.request({ type: 'ping', data: new Uint8Array(4) }), s.request({ type: 'info' })]);
    assert.ok(results.every((r) => r.status === 'rejected' && r.reason instanceof TimeoutError));
    assert.equal(t.writes, 9);
    assert.equal(s.stats.timeouts, 3);
    assert.equal(s.stats.retries, 6);
  });

  it("a UART request's deadline allows its time on the line", async () => {
    // 300 baud: the 10-byte INFO frame takes 333 ms on the line, far beyond the 20 ms timeout.
    const t = silent({ baud: 300 });
    const s = new Session(t, { timeoutMs: 20, retries: 0 });
    const t0 = performance.now();
    await assert.rejects(s.request({ type: 'info' }), TimeoutError);
    assert.ok(performance.now() - t0 >= 330, `waited ${(performance.now() - t0).toFixed(0)} ms`);
  });
});

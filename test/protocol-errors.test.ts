// A device that answers well-formed frames that are not the answer asked for (another slot, an echo
// that differs, a nonce of zeros) is a protocol violation: ProtocolError, exit DEVICE, with its own
// code — not a link failure (TransportError, exit TRANSPORT), since the link itself worked.
import assert from 'node:assert/strict';
import { decodeResponse, encodeFrame, encodeResponse, FrameDecoder, type Response } from '../protocol/index.js';
import { Client } from '../host/client.js';
import { EXIT, ProtocolError, TransportError } from '../host/errors.js';
import { TEST_KEY } from './support/keys.js';
import { memoryLink } from './support/memory-link.js';

/** A client whose device's every answer passes through `tamper` on its way back. */
function tampered(tamper: (res: Response) => Response): Client {
  const { host } = memoryLink({
    chip: { keys: { 0: { key: TEST_KEY }, 2: { key: TEST_KEY } } },
    answer(frame, send) {
      const [ev] = new FrameDecoder().push(frame);
      assert.equal(ev?.type, 'frame');
      send(encodeFrame(encodeResponse(tamper(decodeResponse((ev as { payload: Uint8Array }).payload)))));
    },
  });
  return new Client(host, { timeoutMs: 500, retries: 0 });
}

async function refused(call: (c: Client) => Promise<unknown>, tamper: (res: Response) => Response, code: string): Promise<void> {
  const client = tampered(tamper);
  try {
    await assert.rejects(call(client), (e: unknown) => {
      assert.ok(e instanceof ProtocolError && !(e instanceof TransportError), String(e));
      assert.equal(e.code, code);
      assert.equal(e.exitCode, EXIT.DEVICE);
      return true;
    });
  } finally {
    await client.close();
  }
}

describe('protocol violations by the device', () => {
  it('an untampered device answers (the harness itself is sound)', async () => {
    const client = tampered((r) => r);
    try {
      assert.equal((await client.attest({ slot: 2 })).response.slot, 2);
      await client.ping(Uint8Array.of(1, 2, 3));
    } finally {
      await client.close();
    }
  });

  it('an attestation for another slot than asked is PROTOCOL_ANSWER', () =>
    refused((c) => c.attest({ slot: 2 }), (r) => (r.type === 'attest' ? { ...r, attestation: { ...r.attestation, slot: 0 } } : r), 'PROTOCOL_ANSWER'));

  it('a device nonce of zeros is PROTOCOL_ENTROPY', () =>
    refused((c) => c.attest(), (r) => (r.type === 'attest' ? { ...r, attestation: { ...r.attestation, deviceNonce: new Uint8Array(16) } } : r), 'PROTOCOL_ENTROPY'));

  it('a PING echo that differs is PROTOCOL_ANSWER', () =>
    refused((c) => c.ping(Uint8Array.of(1, 2, 3)), (r) => (r.type === 'ping' ? { ...r, data: Uint8Array.of(1, 2, 4) } : r), 'PROTOCOL_ANSWER'));

  it('an answer of another type than asked is PROTOCOL_ANSWER', () =>
    refused((c) => c.attest(), (r) => (r.type === 'attest' ? { type: 'ping', id: r.id, data: Uint8Array.of(1) } : r), 'PROTOCOL_ANSWER'));
});

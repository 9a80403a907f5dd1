// Edges of the device logic (device/src/device.ts, service.ts) that the mutation run found unchecked:
// the mapping of native errors to protocol statuses, exact argument bounds, the idle flush of a cut
// frame, echoed responses, error details cut to length and the status of each kind of failure.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createDevice, DeviceFault, toFault } from '../device/src/device.js';
import type { Hardware } from '../device/src/hardware.js';
import { AttestService, IDLE_MS } from '../device/src/service.js';
import {
  decodeResponse, encodeFrame, encodeRequest, encodeResponse, ESP_ERR, FrameDecoder, KEY_SLOTS, NONCE_MAX, NONCE_MIN, Status,
  TOKEN_SLOT, VERSION,
} from '../protocol/index.js';
import { softChip } from './support/soft-chip.js';
import { TEST_KEY } from './support/targets.js';

const fault = (status: string, espErr?: number) => (e: unknown) =>
  e instanceof DeviceFault && e.status === status && (espErr === undefined || e.espErr === espErr);

describe('device: native errors become protocol statuses', () => {
  it('maps each kind of native error', () => {
    const cases: [unknown, string, number, string][] = [
      [new Error('no HMAC peripheral on esp32'), 'NO_HMAC', ESP_ERR.ESP_ERR_NOT_SUPPORTED, 'no HMAC peripheral on esp32'],
      [new Error('KEY_ROLE: BLOCK_KEY1 is not an attestation key'), 'KEY_ROLE', ESP_ERR.ESP_ERR_NOT_ALLOWED, 'BLOCK_KEY1 is not an attestation key'],
      [new Error('ESP_FAIL: purpose'), 'KEY_PURPOSE', ESP_ERR.ESP_FAIL, 'ESP_FAIL: purpose'],
      [new Error('ESP_ERR_TIMEOUT: bad'), 'HMAC_FAILED', ESP_ERR.ESP_ERR_TIMEOUT, 'ESP_ERR_TIMEOUT: bad'],
      [new Error('ESP_ERR_NO_SUCH_THING here'), 'HMAC_FAILED', -1, 'ESP_ERR_NO_SUCH_THING here'],
      [new RangeError('slot 9'), 'BAD_SLOT', 0, 'slot 9'],
      [new Error('something else'), 'INTERNAL', 0, 'something else'],
      ['a string', 'INTERNAL', 0, 'a string'],
      [new Error('an ESP_FAIL later in the text'), 'INTERNAL', 0, 'an ESP_FAIL later in the text'],
      [new Error('ESP_FAILED: not a name'), 'INTERNAL', 0, 'ESP_FAILED: not a name'],
    ];
    for (const [err, status, espErr, message] of cases) {
      const f = toFault(err);
      assert.deepEqual([f.status, f.espErr, f.message, f.name], [status, espErr, message, 'DeviceFault'], String(err));
    }
    const own = new DeviceFault('BAD_NONCE', 'x', 7);
    assert.equal(toFault(own), own);
    assert.equal(new DeviceFault('INTERNAL', 'y').espErr, 0);
  });
});

describe('device: argument bounds', () => {
  const dev = createDevice(softChip({ keys: { 0: { key: TEST_KEY }, 1: { key: TEST_KEY }, 5: { key: TEST_KEY } } }));

  it('attest: slots 0..5 only, nonces NONCE_MIN..NONCE_MAX bytes only', () => {
    for (const slot of [-1, KEY_SLOTS, 1.5, '0', undefined as never, null]) {
      if (slot === undefined) continue;
      assert.throws(() => dev.attest(new Uint8Array(32), slot as never), (e: unknown) => fault('BAD_SLOT')(e) && /key slot must be 0\.\.5, got /.test((e as Error).message), String(slot));
    }
    assert.equal(dev.attest(new Uint8Array(32), 5).slot, 5);
    assert.equal(dev.attest(new Uint8Array(32)).slot, 0, 'slot 0 by default');
    assert.equal(dev.attest(new Uint8Array(NONCE_MIN), 0).slot, 0);
    assert.equal(dev.attest(new Uint8Array(NONCE_MAX), 0).slot, 0);
    for (const n of [new Uint8Array(NONCE_MIN - 1), new Uint8Array(NONCE_MAX + 1), [1, 2] as never]) {
      assert.throws(() => dev.attest(n, 0), (e: unknown) => fault('BAD_NONCE')(e) && /host nonce must be 16\.\.64 bytes/.test((e as Error).message));
    }
  });

  it('attest on a chip without an HMAC peripheral is NO_HMAC before the hardware is asked', () => {
    let asked = false;
    const hw: Hardware = { ...softChip({ model: 'esp32' }), attest: () => { asked = true; throw new Error('asked'); } };
    assert.throws(() => createDevice(hw).attest(new Uint8Array(32), 0), (e: unknown) => fault('NO_HMAC', ESP_ERR.ESP_ERR_NOT_SUPPORTED)(e) && /no HMAC peripheral on esp32/.test((e as Error).message));
    assert.equal(asked, false);
  });

  it('token: expiry 1..2^32-1 whole seconds, the token block by default, the key name carried', () => {
    for (const e of [0, -1, 2 ** 32, 1.5, '5' as never]) {
      assert.throws(() => dev.token('hub/devices/x', e), (x: unknown) => fault('BAD_EXPIRY')(x) && /expiry must be 1\.\.4294967295/.test((x as Error).message), String(e));
    }
    assert.match(dev.token('hub/devices/x', 1), /se=1(&|$)/);
    assert.match(dev.token('hub/devices/x', 0xffffffff), /se=4294967295/);
    assert.equal(TOKEN_SLOT, 1);
    assert.throws(() => createDevice(softChip({ keys: { 0: { key: TEST_KEY } } })).token('hub/devices/x', 5), (e: unknown) => e instanceof DeviceFault && e.status !== 'BAD_SLOT', 'slot 1 (empty here) is used by default');
    assert.match(dev.token('hub/devices/x', 5, { keyName: 'owner' }), /skn=owner/);
    assert.doesNotMatch(dev.token('hub/devices/x', 5), /skn=/);
    assert.throws(() => dev.token('', 5), fault('BAD_RESOURCE'));
    assert.throws(() => dev.token('hub/devices/x', 5, { keyName: 'a&b' }), fault('BAD_RESOURCE'));
    assert.throws(() => dev.token('hub/devices/x', 5, { slot: 6 }), fault('BAD_SLOT'));
  });

  it('deviceInfo: all six key blocks; none when the chip has no key purposes', () => {
    const info = dev.deviceInfo();
    assert.equal(info.keys.length, KEY_SLOTS);
    assert.deepEqual(info.keys.map((k) => k.unused), [false, false, true, true, true, false]);
    assert.deepEqual([info.hmac, info.secureBoot, info.flashEncryption, info.revision, info.firmwareVersion], [true, false, false, 2, '0.1.0']);
    const old = createDevice({ ...softChip({ model: 'esp32' }), keyBlock: () => { throw new Error('ESP_ERR_NOT_SUPPORTED'); } });
    assert.deepEqual(old.deviceInfo().keys, []);
  });
});

describe('device service: framing edges', () => {
  const dev = createDevice(softChip({ keys: { 0: { key: TEST_KEY } } }));
  function service(clock: () => number = () => 0) {
    const out: Uint8Array[] = [];
    const s = new AttestService(dev, (f) => out.push(f), clock);
    const answers = () => out.splice(0).flatMap((f) => new FrameDecoder().push(f)).map((ev) => (ev.type === 'frame' ? decodeResponse(ev.payload) : ev));
    return { s, answers };
  }
  const ping = (id: number) => encodeFrame(encodeRequest({ type: 'ping', id, data: Uint8Array.of(id) }));

  it('a cut frame is given up only after more than IDLE_MS of silence', () => {
    assert.equal(IDLE_MS, 50);
    for (const [gap, answered] of [[IDLE_MS, 0], [IDLE_MS + 1, 1]] as const) {
      let t = 1000;
      const { s, answers } = service(() => t);
      const long = encodeFrame(encodeRequest({ type: 'ping', id: 7, data: new Uint8Array(64) }));
      s.receive(long.subarray(0, 20)); // cut: its header promises 50 more bytes
      t += gap;
      s.receive(ping(8));
      const got = answers().filter((r) => 'type' in r && r.type === 'ping');
      // Within IDLE_MS the next frame's bytes are taken as the rest of the cut one.
      assert.equal(got.length, answered, `gap ${gap}`);
    }
  });

  it('answers each request; an echoed response or ERROR is dropped, never answered', () => {
    const { s, answers } = service();
    s.receive(ping(1));
    assert.deepEqual(answers().map((r) => ('id' in r ? [r.type, r.id] : r)), [['ping', 1]]);
    s.receive(encodeFrame(encodeResponse({ type: 'ping', id: 2, data: Uint8Array.of(2) })));
    s.receive(encodeFrame(encodeResponse({ type: 'error', id: 3, status: Status.INTERNAL, espErr: 0, detail: 'x' })));
    assert.deepEqual(answers(), []);
    assert.deepEqual(s.stats, { requests: 1, errors: 0, dropped: 2 });
  });

  it('a damaged frame is dropped and counted; the next one is answered', () => {
    const { s, answers } = service();
    const bad = ping(1).slice();
    bad[bad.length - 1] ^= 0xff; // its CRC
    s.receive(bad);
    s.receive(ping(2));
    assert.deepEqual(answers().map((r) => ('id' in r ? r.id : -1)), [2]);
    assert.deepEqual(s.stats, { requests: 1, errors: 0, dropped: 1 });
  });

  it('text lines from the host are ignored, not counted as dropped frames', () => {
    const { s, answers } = service();
    s.receive(new TextEncoder().encode('hello from the host\n'));
    s.receive(ping(4));
    assert.deepEqual(answers().map((r) => ('id' in r ? r.id : -1)), [4]);
    assert.deepEqual(s.stats, { requests: 1, errors: 0, dropped: 0 });
  });

  it('a response-typed message of another protocol version is not taken for an echo: it is answered BAD_VERSION', () => {
    const { s, answers } = service();
    s.receive(encodeFrame(Uint8Array.of(VERSION + 1, 0x81, 3, 0)));
    const r = answers() as { type: string; id: number; status: number }[];
    assert.deepEqual(r.map((x) => [x.type, x.id, x.status]), [['error', 3, Status.BAD_VERSION]]);
    assert.deepEqual(s.stats, { requests: 0, errors: 1, dropped: 0 });
  });

  it('each failure has its status; details are cut to 160 characters', () => {
    const { s, answers } = service();
    s.receive(encodeFrame(encodeRequest({ type: 'attest', id: 4, nonce: new Uint8Array(randomBytes(32)), slot: 3 })));
    s.receive(encodeFrame(Uint8Array.of(VERSION, 0x03, 9, 0))); // an ATTEST with no body
    const r = answers() as { type: string; id: number; status: number; detail: string }[];
    assert.deepEqual(r.map((x) => [x.type, x.id]), [['error', 4], ['error', 9]]);
    assert.notEqual(r[0]!.status, Status.INTERNAL);
    assert.equal(r[1]!.status, Status.MALFORMED);
    assert.equal(s.stats.errors, 2);
    const long = createDevice({ ...softChip({ keys: { 0: { key: TEST_KEY } } }), attest: () => { throw new Error('x'.repeat(300)); } });
    const out: Uint8Array[] = [];
    new AttestService(long, (f) => out.push(f)).receive(encodeFrame(encodeRequest({ type: 'attest', id: 5, nonce: new Uint8Array(32), slot: 0 })));
    const ev = new FrameDecoder().push(out[0]!)[0]!;
    const e = decodeResponse((ev as { payload: Uint8Array }).payload) as { status: number; detail: string };
    assert.equal(e.status, Status.INTERNAL);
    assert.equal(e.detail, 'x'.repeat(160));
  });

  it('TypeError and RangeError from the device are MALFORMED; a DeviceFault keeps its esp_err_t', () => {
    for (const [err, status, espErr] of [[new TypeError('t'), 'MALFORMED', 0], [new RangeError('r'), 'MALFORMED', 0], [new Error('e'), 'INTERNAL', 0],
      [new DeviceFault('KEY_ROLE', 'k', 0x10d), 'KEY_ROLE', 0x10d]] as const) {
      const d = { ...dev, deviceInfo: () => { throw err; } };
      const out: Uint8Array[] = [];
      new AttestService(d, (f) => out.push(f)).receive(encodeFrame(encodeRequest({ type: 'info', id: 6 })));
      const ev = new FrameDecoder().push(out[0]!)[0] as { payload: Uint8Array };
      const e = decodeResponse(ev.payload) as { status: number; espErr: number; detail: string };
      assert.deepEqual([e.status, e.espErr, e.detail], [Status[status], espErr, err.message]);
    }
  });
});

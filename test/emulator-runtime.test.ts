// The emulator runtime (emulator/, host/emulator.ts) with the real XS engine: a small firmware
// (test/fixtures/emulator/echo.js, an echo service on embedded:io/serial) is run by the emulator and
// its pty is opened with the real `serialport` package, as a USB bridge would be. Covered: the PTY
// line and device node, echo through the TX budget, boot text at reset, host-function binding and
// the "not linked" error, unknown modules, mc/config, callback errors, fatal aborts, garbage input,
// --link, bad arguments, the stats line. Needs the emulator built (scripts/setup.sh).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SerialPortStream } from '@serialport/stream';
import { binding } from '../host/transport/binding.js';
import { Client } from '../host/client.js';
import { type Emulator, type EmulatorOptions, emulatorBinary, parseStatsLine, startEmulator } from '../host/emulator.js';
import { TransportError, UsageError } from '../host/errors.js';
import { SerialTransport } from '../host/transport/serial.js';
import { encodeFrame, encodeRequest } from '../protocol/index.js';
import { ROOT } from './support/vectors.js';

const FIXTURES = join(ROOT, 'test/fixtures/emulator');
const ECHO = join(FIXTURES, 'echo.js');
const ECHO_MANIFEST = join(FIXTURES, 'manifest.json');
const BOOT_ROM = 'ESP-ROM:esp32s3-20210327';
const SW_RESET = 'rst:0xc (RTC_SW_CPU_RST)';
const READY = 'echo: ready\n';

/** The bytes a pty delivers, with waits on what has arrived. */
class Port {
  private received = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  private constructor(private readonly port: SerialPortStream) {
    port.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static async open(path: string): Promise<Port> {
    const port = new SerialPortStream({ binding, path, baudRate: 115200, hupcl: false, autoOpen: false });
    await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
    return new Port(port);
  }

  get text(): string { return this.received.toString('latin1'); }
  get bytes(): Buffer { return this.received; }
  clear(): void { this.received = Buffer.alloc(0); }

  async write(data: Uint8Array | string): Promise<void> {
    await new Promise<void>((resolve, reject) => this.port.write(data, (err) => (err ? reject(err) : resolve())));
    await new Promise<void>((resolve, reject) => this.port.drain((err) => (err ? reject(err) : resolve())));
  }

  /** Waits until `done` holds for what has arrived; fails naming what it waited for. */
  async until(what: string, done: (b: Buffer) => boolean, ms = 5000): Promise<Buffer> {
    const deadline = Date.now() + ms;
    while (!done(this.received)) {
      const left = deadline - Date.now();
      if (left <= 0) assert.fail(`timed out waiting for ${what}; got ${JSON.stringify(this.text.slice(-300))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
    return this.received;
  }

  /** Sends a fixture command ("!name") and returns its one-line answer. */
  async command(name: string): Promise<string> {
    this.clear();
    await this.write(name + '\n');
    const b = await this.until(`the answer to ${name}`, (x) => x.includes(0x0a));
    return b.subarray(0, b.indexOf(0x0a)).toString('latin1');
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.port.isOpen ? this.port.close(() => resolve()) : resolve()));
  }
}

/** Deterministic bytes (xorshift32), so a failure reproduces. */
function noise(count: number, seed: number, exclude: number[] = []): Uint8Array {
  const out = new Uint8Array(count);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < count;) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    const b = x & 0xff;
    if (!exclude.includes(b)) out[i++] = b;
  }
  return out;
}

describe('emulator runtime (XS engine, pty, serialport)', function () {
  this.timeout(60_000);
  let dir = '';
  let s3 = '';     // blank esp32s3 eFuse image (nothing burned)
  let esp32 = '';  // blank esp32 eFuse image
  const running: Emulator[] = [];
  const ports: Port[] = [];

  async function start(opts: Partial<EmulatorOptions> = {}, logs?: string[]): Promise<Emulator> {
    const emu = await startEmulator({
      chip: 'esp32s3', efuse: s3, manifest: ECHO_MANIFEST, ...opts,
      onLog: (line) => { logs?.push(line); },
    });
    running.push(emu);
    return emu;
  }

  async function open(emu: Emulator): Promise<Port> {
    const port = await Port.open(emu.path);
    ports.push(port);
    return port;
  }

  before(function () {
    for (const b of [emulatorBinary('esp32s3'), emulatorBinary('esp32')]) {
      assert.ok(existsSync(b), `${b} is missing: build the emulator (scripts/setup.sh or make -C emulator)`);
    }
    dir = mkdtempSync(join(tmpdir(), 'efuse-attest-emu-'));
    s3 = join(dir, 's3.bin');
    esp32 = join(dir, 'esp32.bin');
    writeFileSync(s3, new Uint8Array(512));
    writeFileSync(esp32, new Uint8Array(288));
  });

  afterEach(async function () {
    for (const p of ports.splice(0)) await p.close();
    for (const e of running.splice(0)) await e.stop();
  });

  after(function () {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('prints one PTY line naming a character device, and ends with status 0 and a stats line', async function () {
    const emu = await start();
    assert.match(emu.path, /^\/dev\/pts\/\d+$/);
    assert.ok(statSync(emu.path).isCharacterDevice());
    const last = await emu.stop();
    assert.equal(await emu.exited, 0);
    assert.ok(last, 'a stats line on exit');
    assert.ok(last.bytesOut > 0, 'boot text went out at power-on');
  });

  it('echoes bytes through the firmware, more than one TX budget at a time', async function () {
    const emu = await start();
    const port = await open(emu);
    const data = noise(20_000, 7, [0x21]); // no "!": all of it is echoed
    await port.write(data);
    const got = await port.until('20000 echoed bytes', (b) => b.length >= data.length, 15_000);
    assert.deepEqual(new Uint8Array(got), data);
    const stats = await emu.stats();
    assert.ok(stats.bytesIn >= data.length && stats.bytesOut >= data.length);
    assert.equal(stats.callbackErrors, 0);
  });

  it('finishes a 1 MB write that the firmware answers once at its start (SerialTransport keeps both poll interests)', async function () {
    // With serialport's own binding, the reader re-arming "readable" after the answer drops the
    // writer's "writable" interest, and the write never completes once the pty is full.
    const real = await start({ manifest: undefined });
    const transport = await SerialTransport.open(real.path);
    try {
      const ping = encodeFrame(encodeRequest({ type: 'ping', id: 7, data: new Uint8Array(8) }));
      const burst = Buffer.concat([ping, noise(1024 * 1024, 13, [0xa5])]);
      let answered = false;
      transport.onData(() => { answered = true; });
      const wrote = await Promise.race([
        transport.write(burst).then(() => true),
        new Promise<false>((r) => setTimeout(() => r(false), 20_000)),
      ]);
      assert.ok(answered, 'the ping was answered');
      assert.ok(wrote, 'the write completed');
    } finally {
      await transport.close();
    }
  });

  it('answers past the 128-byte TX FIFO in FIFO-sized writes, and a write beyond the room throws', async function () {
    const emu = await start();
    const port = await open(emu);
    assert.equal(await port.command('!budget'), '128');
    port.clear();
    await port.write('!big\n');
    const got = await port.until('10000 bytes and a newline', (b) => b.length >= 10_001);
    assert.equal(got.length, 10_001);
    assert.equal(got[9_999], 0x41 + (9_999 % 26));
    assert.match(await port.command('!overflow'), /output full: 129 bytes, \d+ free( \(in write\))?$/);
  });

  it('models the 128-byte RX FIFO: no backpressure, so bytes beyond it are lost while the firmware does not read', async function () {
    const emu = await start();
    const port = await open(emu);
    assert.equal(await port.command('!deaf'), 'ok');
    port.clear();
    await port.write(Buffer.alloc(300, 0x41)); // the next onReadable reads nothing: 128 fit, 172 are lost
    await port.until('the 128 bytes the FIFO kept, echoed', (b) => b.length >= 128);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(port.bytes.length, 128, 'only what the FIFO held');
    assert.ok(port.bytes.every((b) => b === 0x41));
    assert.equal((await emu.stats()).rxLost, 172);
    assert.equal(await port.command('!budget'), '128', 'still serving');
  });

  it('delivers onReadable again while bytes remain after a callback that read some (read(n), read(buffer))', async function () {
    const emu = await start();
    const port = await open(emu);
    for (const mode of ['!one', '!into']) {
      assert.equal(await port.command(mode), 'ok');
      port.clear();
      const data = noise(3000, 11, [0x21]);
      await port.write(data);
      const got = await port.until(`3000 echoed bytes in ${mode} mode`, (b) => b.length >= data.length);
      assert.deepEqual(new Uint8Array(got), data);
    }
  });

  it('prints boot ROM text at reset (SIGHUP), restarts the firmware on the same pty, counts the reset', async function () {
    const emu = await start();
    const port = await open(emu);
    await emu.reset();
    const text = (await port.until('the firmware ready after reset', (b) => b.includes(READY))).toString('latin1');
    assert.ok(text.includes(BOOT_ROM), text);
    assert.ok(text.includes(SW_RESET), text);
    assert.ok(text.indexOf(SW_RESET) < text.indexOf(READY), 'boot text comes before the firmware runs');
    port.clear();
    await port.write('after reset');
    await port.until('echo after reset', (b) => b.toString('latin1') === 'after reset');
    assert.equal((await emu.stats()).resets, 1);
  });

  it('binds declared host functions; a declared name with no C behind it fails clearly when called', async function () {
    const emu = await start();
    const port = await open(emu);
    assert.equal(await port.command('!missing'), 'host function xs_test_missing is not linked into this emulator');
    const chip = JSON.parse(await port.command('!chip')) as { model: string; hmac: boolean };
    assert.equal(chip.model, 'esp32s3');
    assert.equal(chip.hmac, true);
  });

  it('runs a chip without the HMAC peripheral (the original ESP32) on its own build', async function () {
    const emu = await start({ chip: 'esp32', efuse: esp32 });
    const port = await open(emu);
    const chip = JSON.parse(await port.command('!chip')) as { model: string; hmac: boolean };
    assert.deepEqual([chip.model, chip.hmac], ['esp32', false]);
  });

  it('validates the Serial receiver', async function () {
    const emu = await start();
    const port = await open(emu);
    assert.match(await port.command('!receiver'), /^\w*Error: /);
  });

  it('gives mc/config: the target\'s config from its manifests\' platform entry, merged with --config-json', async function () {
    const emu = await start({ configJson: { attestUart: { baud: 9600 }, extra: [1, 2] } });
    const port = await open(emu);
    const config = JSON.parse(await port.command('!config')) as Record<string, unknown>;
    assert.deepEqual(config, { attestUart: { port: 0, baud: 9600, transmit: 43, receive: 44 }, extra: [1, 2] });
    const classic = await start({ chip: 'esp32', efuse: esp32 });
    const port2 = await open(classic);
    assert.deepEqual(JSON.parse(await port2.command('!config')), { attestUart: { port: 0, baud: 115200, transmit: 1, receive: 3 } });
  });

  it('runs with the built-ins frozen as xsl leaves them: assigning an inherited read-only name throws', async function () {
    const emu = await start();
    const port = await open(emu);
    assert.match(await port.command('!frozen'), /^TypeError: .*name/);
  });

  it('links modules by their manifest names only: a name with ".js" (which xsl strips from imports) is not found', async function () {
    const manifest = join(dir, 'bad-names.json');
    writeFileSync(manifest, JSON.stringify({
      include: [join(ROOT, 'device/native/efuse/manifest.json')],
      modules: { main: join(FIXTURES, 'echo'), 'missing.js': join(FIXTURES, 'missing') },
    }));
    await assert.rejects(startEmulator({ chip: 'esp32s3', efuse: s3, manifest }), (e: unknown) => {
      assert.ok(e instanceof TransportError, String(e));
      assert.match(e.message, /module "\.\/missing\.js" not found \(imported by main\): no module "missing" in the manifests for esp32\/esp32s3/);
      return true;
    });
  });

  it('resets the chip when an exception escapes a callback (as Moddable does on a board); logs and counts an unhandled rejection', async function () {
    const logs: string[] = [];
    const emu = await start({}, logs);
    const port = await open(emu);
    port.clear();
    await port.write('!throw\n');
    const text = (await port.until('boot text after the exception', (b) => b.includes(READY))).toString('latin1');
    assert.ok(text.includes(SW_RESET), text);
    const stats = await emu.stats();
    assert.deepEqual([stats.callbackErrors, stats.resets], [1, 1]);
    assert.ok(logs.some((l) => /exception in a callback: Error: thrown by the test firmware; at .*echo\.js:\d+.*; the chip resets/.test(l)), logs.join('\n'));

    await port.write('!reject\n');
    let seen = 0;
    for (let i = 0; i < 100 && seen < 2; i++) {
      seen = (await emu.stats()).callbackErrors; // each stats is a collection: a lost rejected promise is reported
      if (seen < 2) await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(seen, 2);
    assert.equal((await emu.stats()).resets, 1, 'a rejection does not reset');
    assert.equal(await port.command('!budget'), '128'); // still serving
    assert.ok(logs.some((l) => /unhandled rejection: Error: rejected by the test firmware/.test(l)), logs.join('\n'));
  });

  it('resets the chip on a fatal engine abort (stack overflow)', async function () {
    const logs: string[] = [];
    const emu = await start({}, logs);
    const port = await open(emu);
    port.clear();
    await port.write('!deep\n');
    const text = (await port.until('boot text after the abort', (b) => b.includes(READY))).toString('latin1');
    assert.ok(text.includes(SW_RESET), text);
    assert.ok(logs.some((l) => l.includes('fatal: stack overflow')), logs.join('\n'));
    assert.equal((await emu.stats()).resets, 1);
    assert.equal(await port.command('!budget'), '128');
  });

  it('survives garbage: the echo firmware, then the real firmware answers a ping after 64 KB of noise', async function () {
    const emu = await start();
    const port = await open(emu);
    const garbage = noise(64 * 1024, 99, [0x21]);
    for (let i = 0; i < garbage.length; i += 4096) await port.write(garbage.subarray(i, i + 4096));
    await port.until('the noise echoed', (b) => b.length >= garbage.length, 20_000);
    await port.close();
    await emu.stop();
    assert.equal(await emu.exited, 0);

    const firmware = join(ROOT, 'dist/device/src/main.js');
    assert.ok(existsSync(firmware), `${firmware} is missing: npx tsc -p device/tsconfig.json`);
    const real = await start({ manifest: undefined });
    const raw = await open(real);
    for (let i = 0; i < garbage.length; i += 4096) await raw.write(garbage.subarray(i, i + 4096));
    // Bytes still in the pty when the last holder of the slave closes are discarded by the kernel.
    for (let n = 0; n < 500 && (await real.stats()).bytesIn < garbage.length; n++) await new Promise((r) => setTimeout(r, 20));
    await raw.close();
    const client = await Client.open(real.path, { timeoutMs: 2000, retries: 2 });
    try {
      const pong = await client.ping();
      assert.ok(pong.roundTripMs >= 0);
    } finally {
      await client.close();
    }
    const stats = await real.stats();
    assert.equal(stats.resets, 0);
    assert.ok(stats.bytesIn >= garbage.length);
  });

  it('keeps working when the host closes and reopens the port', async function () {
    const emu = await start();
    let port = await open(emu);
    await port.close();
    port = await open(emu);
    await port.write('reopened');
    await port.until('echo after reopening', (b) => b.toString('latin1') === 'reopened');
  });

  it('refuses an unknown module, naming it and the importing file', async function () {
    await assert.rejects(
      startEmulator({ chip: 'esp32s3', efuse: s3, manifest: ECHO_MANIFEST, main: join(FIXTURES, 'bad-import.js') }),
      (e: unknown) => {
        assert.ok(e instanceof TransportError, String(e));
        assert.match(e.message, /module "no-such-module" not found \(imported by main\): no module "no-such-module" in the manifests/);
        return true;
      },
    );
  });

  it('makes --link a symbolic link to the pty, replacing a stale one, and removes it on exit', async function () {
    const link = join(dir, 'esp');
    symlinkSync('/dev/nonexistent-stale-pty', link);
    const emu = await start({ link });
    assert.equal(readlinkSync(link), emu.path);
    await emu.stop();
    assert.throws(() => lstatSync(link), /ENOENT/);
  });

  it('rejects bad arguments with one line and status 2', function () {
    const bin = emulatorBinary('esp32s3');
    const cases: [string[], RegExp][] = [
      [['--chip', 'esp32s3'], /--efuse is required/],
      [['--efuse', s3], /--chip is required/],
      [['--chip', 'esp99', '--efuse', s3], /unknown chip "esp99"/],
      [['--chip', 'esp32', '--efuse', esp32], /this emulator is built for esp32s3: run emulator\/build\/esp32\/efuse-attest-emu/],
      [['--chip', 'esp32s3', '--efuse', s3, '--bogus'], /unknown option --bogus/],
      [['--chip', 'esp32s3', '--efuse', esp32, '--main', ECHO], /288 bytes/],
      [['--chip', 'esp32s3', '--efuse', s3, '--main', join(dir, 'none.js')], /--main .*none\.js/],
    ];
    for (const [args, message] of cases) {
      const r = spawnSync(bin, args, { encoding: 'utf8' });
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '', 'nothing on stdout');
      const lines = r.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, message);
    }
  });

  it('startEmulator maps a refused image to UsageError and checks its own arguments', async function () {
    await assert.rejects(startEmulator({ chip: 'esp32s3', efuse: esp32, manifest: ECHO_MANIFEST }), UsageError);
    await assert.rejects(startEmulator({ chip: 'esp99', efuse: s3 }), RangeError);
    await assert.rejects(startEmulator({ chip: 'esp32s3', efuse: 42 as unknown as string }), TypeError);
  });

  it('parses stats lines and rejects malformed ones', function () {
    const good = '{"stats":{"chunkBytes":1,"chunkPeak":2,"slotBytes":3,"slotPeak":4,"heapCount":5,"callbackErrors":0,"bytesIn":6,"bytesOut":7,"resets":0,"rxLost":0}}';
    assert.deepEqual(parseStatsLine(good), {
      chunkBytes: 1, chunkPeak: 2, slotBytes: 3, slotPeak: 4, heapCount: 5, callbackErrors: 0, bytesIn: 6, bytesOut: 7, resets: 0, rxLost: 0,
    });
    const bad = [
      '',
      'efuse-attest-emu: fatal: stack overflow',
      '{"stats":',
      '{"stats":{}}',
      good.replace('"heapCount":5', '"heapCount":-5'),
      good.replace('"bytesIn":6', '"bytesIn":"6"'),
      good.replace('"resets":0', '"resets":1.5'),
      ' ' + good,
    ];
    for (const line of bad) assert.equal(parseStatsLine(line), undefined, line);
  });
});

// The espefuse session worker's client (host/espefuse/worker.ts) and the driver's process handling
// (host/espefuse/driver.ts), fast and without espefuse: the worker is a stand-in written here, a Node
// script that speaks worker.py's line protocol (one JSON object per line: a ready line, then one answer
// per request) and does what each test tells it to — answer, split or reorder answers, write garbage,
// hang, wait for end of input, crash. The driver is given it as its worker's Python (the `python`
// option, as the Python tests give their wrappers), so it runs `<stand-in> <worker.py>`; the command
// mode runs a shell-script espefuse. The real worker.py against real espefuse is tested by
// espefuse-session.test.ts.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EspefuseError } from '../host/errors.js';
import { Espefuse } from '../host/espefuse/driver.js';
import { workerScript } from '../host/espefuse/locate.js';
import { encodeRequest, EspefuseWorker, WorkerUnavailable } from '../host/espefuse/worker.js';
import { toHex } from '../protocol/index.js';
import { codedError } from './support/errors.js';

/** One thing the stand-in does, in this order of fields. */
interface Act {
  /** Writes this to stderr. */
  stderr?: string;
  /** Closes its stdin (the caller's next write fails with EPIPE). */
  closeStdin?: boolean;
  /** Reads its input until the end (the caller closed the pipe), logging {end: true}. */
  untilEnd?: boolean;
  /** Waits until this file (in the test's directory) exists, or for at most `ms` when given. */
  waitFile?: string;
  ms?: number;
  /** Writes one answer line: `{id: <the request's id>, ...send}` ({...send} before any request). */
  send?: Record<string, unknown>;
  /** Writes this text as it is, `$ID` replaced by the request's id. */
  raw?: string;
  /** Sleeps (only to split a write in two). */
  sleep?: number;
  /** Sends itself this signal. */
  signal?: NodeJS.Signals;
  /** Exits with this status. */
  exit?: number;
}

interface StandIn {
  /** Before reading any request; default: the ready line. */
  start?: Act[];
  /** Per request, by its position; missing or null: the default for its op. */
  steps?: (Act[] | null)[];
  /** At the end of input; default: exit 0. */
  atEnd?: Act[];
  /** The summary's JSON text for the default summary answer. */
  summary?: string;
}

interface LogEntry {
  start?: { pid: number; pgid: number; argv: string[]; env: Record<string, string | null>; alive: number[] };
  req?: Record<string, unknown> & { id: number; op: string };
  end?: boolean;
}

const READY: Act[] = [{ send: { ready: true, esptool: '5.0.2' } }];
const KEY = Uint8Array.from({ length: 32 }, (_, i) => (i * 37 + 5) & 255);

/**
 * The stand-in: a Node script with the protocol loop of worker.py over blocking reads. Each process
 * logs its start, and touches `started-<n>` (n: how many started before it with the same log). Steps
 * are counted over every process of one stand-in.
 */
function standInSource(cfg: StandIn, log: string, dir: string): string {
  return `import fs from 'node:fs';
import { join } from 'node:path';
const cfg = ${JSON.stringify(cfg)};
const LOG = ${JSON.stringify(log)};
const DIR = ${JSON.stringify(dir)};
const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
const log = (o) => fs.appendFileSync(LOG, JSON.stringify(o) + '\\n');
function put(fd, s) {
  const b = Buffer.from(s);
  for (let o = 0; o < b.length;) {
    try { o += fs.writeSync(fd, b, o); } catch (e) { if (e.code !== 'EAGAIN') throw e; sleep(2); }
  }
}
const logged = fs.existsSync(LOG) ? fs.readFileSync(LOG, 'utf8').trim().split('\\n').map((l) => JSON.parse(l)) : [];
const earlier = logged.filter((e) => e.start).map((e) => e.start.pid);
const alive = earlier.filter((pid) => { try { process.kill(pid, 0); return true; } catch { return false; } });
const stat = fs.readFileSync('/proc/self/stat', 'utf8');
const pgid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
const env = {};
for (const k of ['NO_COLOR', 'TERM', 'COLUMNS', 'PYTHONUNBUFFERED', 'PYTHONIOENCODING', 'EFUSE_ATTEST_PASSPHRASE']) env[k] = process.env[k] ?? null;
log({ start: { pid: process.pid, pgid, argv: process.argv.slice(2), env, alive } });
fs.writeFileSync(join(DIR, 'started-' + earlier.length), '');
let buf = '';
const chunk = Buffer.alloc(65536);
function readMore() {
  for (;;) {
    try {
      const n = fs.readSync(0, chunk, 0, chunk.length, null);
      if (n === 0) return false;
      buf += chunk.toString('utf8', 0, n);
      return true;
    } catch (e) {
      if (e.code === 'EAGAIN') { sleep(2); continue; }
      if (e.code === 'EOF') return false;
      throw e;
    }
  }
}
function act(list, req) {
  for (const a of list) {
    if (a.stderr !== undefined) put(2, a.stderr);
    if (a.closeStdin) fs.closeSync(0);
    if (a.untilEnd) { while (readMore()) buf = ''; log({ end: true }); }
    if (a.waitFile !== undefined) for (let t = 0; !fs.existsSync(join(DIR, a.waitFile)) && (a.ms === undefined || t < a.ms); t += 10) sleep(10);
    if (a.send !== undefined) put(1, JSON.stringify({ id: req?.id, ...a.send }) + '\\n');
    if (a.raw !== undefined) put(1, a.raw.replaceAll('$ID', String(req?.id)));
    if (a.sleep !== undefined) sleep(a.sleep);
    if (a.signal !== undefined) process.kill(process.pid, a.signal);
    if (a.exit !== undefined) process.exit(a.exit);
  }
}
const defaults = {
  open: [{ send: { ok: true } }],
  summary: [{ send: { ok: true, json: cfg.summary ?? '{}' } }],
  'burn-key': [{ send: { ok: true, aborted: false } }],
};
act(cfg.start ?? ${JSON.stringify(READY)});
for (let step = logged.filter((e) => e.req).length; ; step++) {
  let nl;
  while ((nl = buf.indexOf('\\n')) < 0) {
    if (!readMore()) { log({ end: true }); act(cfg.atEnd ?? [{ exit: 0 }]); process.exit(0); }
  }
  const req = JSON.parse(buf.slice(0, nl));
  buf = buf.slice(nl + 1);
  log({ req });
  act(cfg.steps?.[step] ?? defaults[req.op] ?? [{ send: { ok: false, error: { type: 'ValueError', message: 'unknown op', output: '' } } }], req);
}
`;
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

/** Waits until `cond` holds; fails after `ms` (a bound for a broken build, never a measured time). */
async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; !cond(); await new Promise((r) => setTimeout(r, 10))) {
    if (Date.now() > end) assert.fail(`still waiting: ${what}`);
  }
}

/** The pipes and processes that keep this process alive. */
const handles = (): number => process.getActiveResourcesInfo().filter((t) => t === 'ProcessWrap' || t === 'PipeWrap').length;

const code = (c: string, msg: string | RegExp) => codedError(EspefuseError, c, msg);
const unavailable = (msg: string) => (e: unknown): boolean => {
  assert.ok(e instanceof WorkerUnavailable, String(e));
  assert.equal(e.message, msg);
  return true;
};

/**
 * Test directory and stand-ins. A stand-in is run as `sh` that notes its pid, then execs Node on the
 * script (same pid); every process a stand-in started is killed afterwards.
 */
function fixture() {
  const ctx = { dir: '', n: 0 };
  const pidFile = () => join(ctx.dir, 'pids.txt');
  beforeEach(() => { ctx.dir = mkdtempSync(join(tmpdir(), 'efa-worker-')); ctx.n = 0; });
  afterEach(() => {
    for (const pid of pids(pidFile())) if (alive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(ctx.dir, { recursive: true, force: true });
  });
  const standIn = (cfg: StandIn = {}): { path: string; log: string; pids: () => number[] } => {
    const path = join(ctx.dir, `worker-${++ctx.n}`);
    const log = `${path}.log`;
    const own = `${path}.pids`;
    writeFileSync(`${path}.mjs`, standInSource(cfg, log, ctx.dir));
    writeFileSync(path, `#!/bin/sh\necho $$ >> "${pidFile()}"\necho $$ >> "${own}"\nexec "${process.execPath}" "${path}.mjs" "$@"\n`);
    chmodSync(path, 0o755);
    return { path, log, pids: () => pids(own) };
  };
  const go = (name = 'go') => writeFileSync(join(ctx.dir, name), '');
  return { ctx, standIn, go };
}

function pids(file: string): number[] {
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter((l) => l !== '').map(Number) : [];
}

function entries(log: string): LogEntry[] {
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8').trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as LogEntry);
}
const starts = (log: string) => entries(log).flatMap((e) => (e.start ? [e.start] : []));
const requests = (log: string) => entries(log).flatMap((e) => (e.req ? [e.req] : []));
const ended = (log: string) => entries(log).some((e) => e.end === true);

describe('espefuse worker: the request line', () => {
  it('encodeRequest: the fields as JSON and a newline; a secret appended as "key", hex from its bytes', () => {
    assert.equal(Buffer.from(encodeRequest({ id: 1, op: 'summary' })).toString('latin1'), '{"id":1,"op":"summary"}\n');
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const line = encodeRequest({ id: 7, op: 'burn-key', block: 'BLOCK_KEY2' }, all);
    assert.equal(Buffer.from(line).toString('latin1'), `{"id":7,"op":"burn-key","block":"BLOCK_KEY2","key":"${toHex(all)}"}\n`);
    assert.deepEqual(JSON.parse(Buffer.from(line).toString('utf8')), { id: 7, op: 'burn-key', block: 'BLOCK_KEY2', key: toHex(all) });
    assert.equal(Buffer.from(encodeRequest({ id: 2, op: 'x', text: 'é"\n' }, Uint8Array.of(0xab))).toString('utf8'), '{"id":2,"op":"x","text":"é\\"\\n","key":"ab"}\n');
    assert.equal(Buffer.from(encodeRequest({ id: 3 }, new Uint8Array(0))).toString('latin1'), '{"id":3,"key":""}\n', 'an empty secret is still a key');
  });
});

describe('espefuse worker: EspefuseWorker against a stand-in worker', function () {
  this.timeout(30_000);
  const { ctx, standIn, go } = fixture();
  const SCRIPT = '/opt/efa/worker.py';
  const LABEL = 'virt /v/chip.bin';
  const start = (cfg: StandIn = {}, timeoutMs = 15_000, name?: string) => {
    const s = standIn(cfg);
    return { ...s, w: name === undefined ? EspefuseWorker.start(s.path, SCRIPT, LABEL, timeoutMs) : EspefuseWorker.start(s.path, SCRIPT, LABEL, timeoutMs, name) };
  };
  const T = { timeoutMs: 15_000 };

  it('starts `python script` in its own process group, with the child environment, and waits for its ready line', async () => {
    const saved = process.env.EFUSE_ATTEST_PASSPHRASE;
    process.env.EFUSE_ATTEST_PASSPHRASE = 'not for children';
    let s;
    try { s = start(); await s.w; } finally {
      if (saved === undefined) delete process.env.EFUSE_ATTEST_PASSPHRASE; else process.env.EFUSE_ATTEST_PASSPHRASE = saved;
    }
    const w = await s.w;
    const [st] = starts(s.log);
    assert.deepEqual(st, {
      pid: w.pid, pgid: w.pid, argv: [SCRIPT], alive: [],
      env: { NO_COLOR: '1', TERM: 'dumb', COLUMNS: '200', PYTHONUNBUFFERED: '1', PYTHONIOENCODING: 'utf-8', EFUSE_ATTEST_PASSPHRASE: null },
    });
    assert.equal(w.label, LABEL);
    assert.equal(w.gone, false);
    assert.equal(w.how, 'running');
    assert.equal(w.stderr, '');
    const timers = () => process.getActiveResourcesInfo().filter((t) => t === 'Timeout').length;
    const before = timers();
    await w.close();
    assert.equal(timers(), before, 'no grace timer left behind to hold this process up');
    assert.equal(w.gone, true);
    assert.equal(w.how, 'exit 0', 'it ended on its own at the end of its input');
    assert.equal(ended(s.log), true);
    await w.close();
  });

  it('requests: ids from 1, the fields as sent, each answer resolved whole', async () => {
    const s = start({ summary: '{"MAC": 1}' });
    const w = await s.w;
    assert.deepEqual(await w.request('summary', {}, T), { id: 1, ok: true, json: '{"MAC": 1}' });
    assert.deepEqual(await w.request('open', { chip: 'esp32s3', virt: '/v/chip.bin' }, T), { id: 2, ok: true });
    assert.deepEqual(await w.request('burn-key', { block: 'BLOCK_KEY1' }, { ...T, critical: true, secret: KEY, name: 'burn' }), { id: 3, ok: true, aborted: false });
    assert.deepEqual(requests(s.log), [
      { id: 1, op: 'summary' },
      { id: 2, op: 'open', chip: 'esp32s3', virt: '/v/chip.bin' },
      { id: 3, op: 'burn-key', block: 'BLOCK_KEY1', key: toHex(KEY) },
    ]);
    await w.close();
  });

  it('the key goes down the pipe in a buffer that is zeroed once written', async () => {
    const s = start();
    const w = await s.w;
    const stdin = (w as unknown as { child: ChildProcess }).child.stdin!;
    const written: Uint8Array[] = [];
    const write = stdin.write.bind(stdin) as (chunk: Uint8Array, cb: () => void) => boolean;
    (stdin as unknown as { write: typeof write }).write = (chunk, cb) => { written.push(chunk); return write(chunk, cb); };
    await w.request('burn-key', { block: 'BLOCK_KEY0' }, { ...T, critical: true, secret: KEY });
    assert.equal(written.length, 1);
    assert.equal(written[0]!.length, `{"id":1,"op":"burn-key","block":"BLOCK_KEY0","key":""}\n`.length + 64);
    assert.ok(written[0]!.every((b) => b === 0), 'zeroed');
    assert.equal(requests(s.log)[0]!.key, toHex(KEY), 'the worker got the key');
    await w.close();
  });

  it('answers split across writes, several in one write, out of order; lines that answer nothing are skipped', async () => {
    const s = start({
      steps: [
        [{ raw: '{"id":$ID,"ok":tr' }, { sleep: 100 }, { raw: 'ue,"json":"a\\nb"}\n' }],
        [],
        [{ raw: '{"id":99,"ok":true}\n{"ok":true}\n"text"\n5\n{"id":"3","ok":false}\n{"id":3,"ok":true,"json":"three"}\n{"id":2,"ok":true,"json":"two"}\n' }],
      ],
    });
    const w = await s.w;
    assert.deepEqual(await w.request('summary', {}, T), { id: 1, ok: true, json: 'a\nb' });
    const two = w.request('summary', {}, T);
    const three = w.request('summary', {}, T);
    assert.deepEqual(await Promise.all([two, three]), [{ id: 2, ok: true, json: 'two' }, { id: 3, ok: true, json: 'three' }]);
    assert.equal(w.gone, false);
    await w.close();
  });

  it('an answer that is not JSON kills the worker; what it was is kept with its stderr', async () => {
    const s = start({ steps: [[{ raw: `${'x'.repeat(300)}\n{"id":$ID,"ok":true}\n` }]] });
    const w = await s.w;
    await assert.rejects(w.request('summary', {}, T), code('ESPEFUSE_EXITED',
      `espefuse summary on ${LABEL} did not finish: its espefuse process (pid ${w.pid}) exited (SIGKILL): (unreadable answer: ${'x'.repeat(200)})`));
    assert.equal(w.how, 'SIGKILL');
    assert.equal(w.stderr, `(unreadable answer: ${'x'.repeat(200)})`);
    const b = start({ steps: [[{ raw: '\n{"id":$ID,"ok":true}\n' }]] });
    const wb = await b.w;
    await assert.rejects(wb.request('summary', {}, { timeoutMs: 5000 }), code('ESPEFUSE_EXITED',
      `espefuse summary on ${LABEL} did not finish: its espefuse process (pid ${wb.pid}) exited (SIGKILL): (unreadable answer: )`), 'an empty line is no answer either');
  });

  it('a worker that cannot serve is WorkerUnavailable with its reason, and ends', async () => {
    const a = start({ start: [{ send: { ready: false, error: 'ImportError: esptool 4.8 has no espefuse scripting API (5.x needed)' } }, { exit: 3 }] });
    await assert.rejects(a.w, unavailable('ImportError: esptool 4.8 has no espefuse scripting API (5.x needed)'));
    const b = start({ start: [{ send: { ready: false } }, { waitFile: 'never' }] });
    await assert.rejects(b.w, unavailable('the worker is not ready'));
    const c = start({ start: [{ send: { ready: 'yes' } }, { waitFile: 'never' }] });
    await assert.rejects(c.w, unavailable('the worker is not ready'));
    for (const s of [b, c]) {
      const [pid] = s.pids();
      await until(() => !alive(pid!), 'a worker that is not ready is killed');
    }
  });

  it('a worker that exits before its ready line: how it ended and the last line of its stderr', async () => {
    const a = start({ start: [{ stderr: 'Traceback (most recent call last):\n  File "worker.py"\nModuleNotFoundError: No module named \'esptool\'\n' }, { sleep: 300 }, { exit: 1 }] });
    await assert.rejects(a.w, unavailable('the worker exited before it was ready (exit 1): ModuleNotFoundError: No module named \'esptool\''));
    const b = start({ start: [{ exit: 1 }] });
    await assert.rejects(b.w, unavailable('the worker exited before it was ready (exit 1)'));
    const c = start({ start: [{ signal: 'SIGTERM' }] });
    await assert.rejects(c.w, unavailable('the worker exited before it was ready (SIGTERM)'));
  });

  it('no ready line in time: ESPEFUSE_TIMEOUT naming the step, and the worker is killed', async () => {
    const a = start({ start: [] }, 300, 'burn-key');
    await assert.rejects(a.w, code('ESPEFUSE_TIMEOUT', `espefuse burn-key on ${LABEL} did not start: ${a.path} ${SCRIPT} was not ready within 0.3 s`));
    const b = start({ start: [] }, 250);
    await assert.rejects(b.w, code('ESPEFUSE_TIMEOUT', `espefuse session on ${LABEL} did not start: ${b.path} ${SCRIPT} was not ready within 0.25 s`));
    for (const s of [a, b]) {
      await until(() => s.pids().length === 1, 'the stand-in has started');
      const [pid] = s.pids();
      await until(() => !alive(pid!), 'the worker is killed');
    }
  });

  it('a Python that cannot be run is WorkerUnavailable', async () => {
    const none = join(ctx.dir, 'no-python');
    await assert.rejects(EspefuseWorker.start(none, SCRIPT, LABEL, 15_000), unavailable(`cannot run ${none}: spawn ${none} ENOENT`));
  });

  it('a worker that exits mid-request fails every pending request with how it ended and its last stderr lines', async () => {
    const s = start({
      start: [{ stderr: 'warning: one\nTraceback (most recent call last):\n  File "worker.py", line 1\nRuntimeError: boom\n' }, ...READY],
      steps: [[], [{ exit: 2 }]],
    });
    const w = await s.w;
    await until(() => w.stderr.endsWith('boom'), 'stderr read');
    const burn = w.request('burn-key', {}, { ...T, critical: true, secret: KEY });
    const read = w.request('summary', {}, { ...T, name: 'summary (re-read)' });
    const tail = 'Traceback (most recent call last):   File "worker.py", line 1 RuntimeError: boom';
    await assert.rejects(read, code('ESPEFUSE_EXITED', `espefuse summary (re-read) on ${LABEL} did not finish: its espefuse process (pid ${w.pid}) exited (exit 2): ${tail}`));
    await assert.rejects(burn, code('ESPEFUSE_EXITED', `espefuse burn-key on ${LABEL} did not finish: its espefuse process (pid ${w.pid}) exited (exit 2): ${tail}` +
      '. The burn may or may not have happened: re-read the eFuses before doing anything else'));
    assert.equal(w.gone, true);
    assert.equal(w.how, 'exit 2');
    await assert.rejects(w.request('summary', {}, T), code('ESPEFUSE_EXITED', `espefuse summary on ${LABEL} did not finish: its espefuse process (pid ${w.pid}) exited (exit 2): ${tail}`));
    await assert.rejects(w.request('summary', {}, { ...T, name: 're-read' }), code('ESPEFUSE_EXITED', /^espefuse re-read on /));
    await w.close();
  });

  it('killed by a signal: its name; stderr keeps its last 2000 characters', async () => {
    const s = start({ start: [{ stderr: 'a'.repeat(2500) + 'END\n' }, ...READY], steps: [[{ signal: 'SIGKILL' }]] });
    const w = await s.w;
    await until(() => w.stderr.endsWith('END'), 'stderr read');
    assert.equal(w.stderr, 'a'.repeat(1996) + 'END');
    await assert.rejects(w.request('summary', {}, T), code('ESPEFUSE_EXITED', `espefuse summary on ${LABEL} did not finish: its espefuse process (pid ${w.pid}) exited (SIGKILL): ${'a'.repeat(1996)}END`));
    assert.equal(w.how, 'SIGKILL');
  });

  it('a worker that closes its input: the failed write is not an error of this process, its exit is', async () => {
    const s = start({ steps: [[{ closeStdin: true }, { send: { ok: true } }, { waitFile: 'go' }, { exit: 4 }]] });
    const w = await s.w;
    assert.deepEqual(await w.request('open', {}, T), { id: 1, ok: true });
    const stdin = (w as unknown as { child: ChildProcess }).child.stdin!;
    const next = w.request('summary', {}, T);
    await until(() => stdin.destroyed, 'the write failed');
    assert.equal(w.gone, false);
    go();
    await assert.rejects(next, code('ESPEFUSE_EXITED', `espefuse summary on ${LABEL} did not finish: its espefuse process (pid ${w.pid}) exited (exit 4)`));
  });

  it('a request that times out is killed with the worker; every other pending request fails', async () => {
    const s = start({ steps: [[], []] });
    const w = await s.w;
    const other = w.request('summary', {}, T);
    await assert.rejects(w.request('summary', {}, { timeoutMs: 200, name: 'read' }), code('ESPEFUSE_TIMEOUT', `espefuse read on ${LABEL} did not finish within 0.2 s`));
    await assert.rejects(other, code('ESPEFUSE_EXITED', `espefuse summary on ${LABEL} did not finish: its espefuse process (pid ${w.pid}) exited (SIGKILL)`));
    assert.equal(w.how, 'SIGKILL');
  });

  it('a burn that times out is left to finish: the worker is let go, its input closed, never killed', async () => {
    const s = start({ steps: [[{ untilEnd: true }, { waitFile: 'go' }, { send: { ok: true, aborted: false } }, { exit: 0 }]] });
    const w = await s.w;
    const base = handles();
    const burn = w.request('burn-key', {}, { timeoutMs: 200, critical: true, secret: KEY });
    const other = w.request('summary', {}, T);
    await assert.rejects(burn, code('ESPEFUSE_TIMEOUT', `espefuse burn-key on ${LABEL} did not finish within 0.2 s; it was left running: ` +
      'do not disconnect the chip, and re-read its eFuses before doing anything else'));
    await assert.rejects(other, code('ESPEFUSE_EXITED', `espefuse summary on ${LABEL} did not finish: its espefuse process was let go`));
    await assert.rejects(w.request('summary', {}, T), code('ESPEFUSE_EXITED', `espefuse summary on ${LABEL} did not finish: its espefuse process was let go`));
    assert.equal(w.goneError('burn-key', true).message, `espefuse burn-key on ${LABEL} did not finish: its espefuse process was let go. ` +
      'The burn may or may not have happened: re-read the eFuses before doing anything else');
    await until(() => ended(s.log), 'its input was closed');
    assert.equal(w.gone, false, 'not killed');
    assert.ok(alive(w.pid!));
    assert.equal(handles(), base, 'a worker let go does not keep this process alive');
    await w.close(200);
    assert.equal(w.gone, false, 'close() does not kill a worker finishing a burn it was let go with');
    assert.ok(alive(w.pid!));
    go();
    await until(() => w.gone, 'the worker exits once the burn is done');
    assert.equal(w.how, 'exit 0');
  });

  it('close() during a burn returns at once; the burn is answered, then the worker exits', async () => {
    const s = start({ steps: [[{ untilEnd: true }, { waitFile: 'go' }, { send: { ok: true, aborted: true } }, { exit: 0 }]] });
    const w = await s.w;
    const burn = w.request('burn-key', { block: 'BLOCK_KEY3' }, { ...T, critical: true, secret: KEY });
    const read = w.request('summary', {}, T);
    await until(() => requests(s.log).length === 1, 'the burn was asked');
    await w.close();
    assert.equal(w.gone, false);
    await assert.rejects(w.request('summary', {}, T), code('ESPEFUSE_EXITED', `espefuse summary on ${LABEL} did not finish: its espefuse process was let go`),
      'nothing new is asked of a worker that is ending');
    await until(() => ended(s.log), 'its input was closed');
    go();
    assert.deepEqual(await burn, { id: 1, ok: true, aborted: true });
    await assert.rejects(read, code('ESPEFUSE_EXITED', `espefuse summary on ${LABEL} did not finish: its espefuse process (pid ${w.pid}) exited (exit 0)`));
    await until(() => w.gone, 'exited');
    assert.equal(w.how, 'exit 0');
  });

  it('an answered request\'s time limit is stopped: the worker lives on past it', async () => {
    // The second answer comes after the first request's 300 ms limit (the stand-in waits 1 s first).
    const s = start({ steps: [null, [{ waitFile: 'never', ms: 1000 }, { send: { ok: true, json: 'late' } }]] });
    const w = await s.w;
    assert.deepEqual(await w.request('summary', {}, { timeoutMs: 300 }), { id: 1, ok: true, json: '{}' });
    assert.deepEqual(await w.request('summary', {}, T), { id: 2, ok: true, json: 'late' });
    assert.equal(w.gone, false);
    await w.close();
    assert.equal(w.how, 'exit 0');
  });

  it('close() waits for the worker to end; one that does not end within the grace time is killed', async () => {
    const a = start({ steps: [[]] });
    const wa = await a.w;
    const pending = wa.request('summary', {}, T);
    await until(() => requests(a.log).length === 1, 'asked');
    await wa.close();
    assert.equal(wa.how, 'exit 0');
    await assert.rejects(pending, code('ESPEFUSE_EXITED', `espefuse summary on ${LABEL} did not finish: its espefuse process (pid ${wa.pid}) exited (exit 0)`));
    const b = start({ atEnd: [{ waitFile: 'never' }] });
    const wb = await b.w;
    await wb.close(200);
    assert.equal(wb.how, 'SIGKILL');
  });

  it('while requests are pending the worker keeps this process alive; otherwise not', async () => {
    const base = handles();
    const s = start({ steps: [[], [{ raw: '{"id":2,"ok":true}\n' }, { waitFile: 'go' }, { raw: '{"id":1,"ok":true}\n' }]] });
    const w = await s.w;
    assert.equal(handles(), base, 'idle once ready');
    const one = w.request('summary', {}, T);
    assert.equal(handles(), base + 4, 'the process and its three pipes');
    assert.deepEqual(await w.request('summary', {}, T), { id: 2, ok: true });
    assert.equal(handles(), base + 4, 'still one pending');
    go();
    assert.deepEqual(await one, { id: 1, ok: true });
    assert.equal(handles(), base);
    const closing = w.close();
    assert.equal(handles(), base + 4, 'close() keeps it alive until the worker has ended');
    await closing;
  });
});

describe('espefuse driver: sessions against a stand-in worker', function () {
  this.timeout(30_000);
  const { ctx, standIn, go } = fixture();
  let image = '';
  beforeEach(() => {
    image = join(ctx.dir, 'chip.bin');
    writeFileSync(image, Buffer.alloc(0x200));
  });
  const ZERO = '0x' + '00'.repeat(32);
  const f = (value: unknown, raw: unknown, readable = true, writeable = true) => ({ value, raw_value: raw, readable, writeable });
  const summary = (burned?: number): string => {
    const d: Record<string, unknown> = {
      MAC: f('7c:df:a1:00:00:01 (OK)', '0x7cdfa1000001'), SECURE_BOOT_EN: f(false, 0), SPI_BOOT_CRYPT_CNT: f('Disable', '0x0'), RD_DIS: f(0, 0),
    };
    for (let s = 0; s < 6; s++) {
      d[`BLOCK_KEY${s}`] = s === burned ? f(ZERO, ZERO, false, false) : f(ZERO, ZERO);
      d[`KEY_PURPOSE_${s}`] = s === burned ? f('HMAC_UP', 8, true, false) : f('USER', 0);
    }
    return JSON.stringify(d);
  };
  /** A shell-script espefuse for the command mode: summary answers a blank chip. */
  const commandEspefuse = (): string => {
    const json = join(ctx.dir, 'answer.json');
    writeFileSync(json, summary());
    const p = join(ctx.dir, 'espefuse');
    writeFileSync(p, `#!/bin/sh\necho "$@" >> "${join(ctx.dir, 'calls.txt')}"\nprev=""\nfor a in "$@"; do\n  if [ "$prev" = --file ]; then cp "${json}" "$a"; fi\n  prev="$a"\ndone\n`);
    chmodSync(p, 0o755);
    return p;
  };
  const driver = (cfg: StandIn, opts: { timeoutMs?: number; bin?: string; port?: string; baud?: number } = {}) => {
    const s = standIn({ summary: summary(), ...cfg });
    const target = opts.port ? { kind: 'port' as const, port: opts.port, ...(opts.baud ? { baud: opts.baud } : {}) } : { kind: 'virt' as const, image };
    const ef = new Espefuse('esp32s3', target, { python: s.path, bin: opts.bin ?? join(ctx.dir, 'no-espefuse'), ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}) });
    return { ...s, ef };
  };

  it('one session: worker.py started once, the chip opened, every read over it; close() ends it; the next call opens a new one', async () => {
    const { ef, log } = driver({});
    assert.equal((await ef.summary()).mac, '7cdfa1000001');
    const pid = starts(log)[0]!.pid;
    assert.deepEqual(ef.connection, { mode: 'session', processes: 1, pid });
    assert.equal(starts(log)[0]!.argv[0], workerScript());
    assert.equal((await ef.summary()).keys.length, 6);
    assert.deepEqual(requests(log), [{ id: 1, op: 'open', chip: 'esp32s3', virt: image }, { id: 2, op: 'summary' }, { id: 3, op: 'summary' }]);
    await ef.close();
    assert.deepEqual(ef.connection, { mode: 'session', processes: 1 });
    assert.equal(ended(log), true);
    assert.equal(alive(pid), false);
    await ef.close();
    await ef.summary();
    assert.equal(starts(log).length, 2);
    assert.equal(ef.connection.processes, 2);
    await ef.close();
  });

  it('a port is opened by path, with its baud when given; calls made together share one start', async () => {
    const a = driver({}, { port: '/dev/ttyUSB9', baud: 460800 });
    const [s1, s2] = await Promise.all([a.ef.summary(), a.ef.summary()]);
    assert.deepEqual(s1, s2);
    assert.equal(starts(a.log).length, 1);
    assert.deepEqual(requests(a.log), [{ id: 1, op: 'open', chip: 'esp32s3', port: '/dev/ttyUSB9', baud: 460800 }, { id: 2, op: 'summary' }, { id: 3, op: 'summary' }]);
    assert.equal(a.ef.connection.processes, 1);
    await a.ef.close();
    const b = driver({}, { port: '/dev/ttyACM0' });
    await b.ef.summary();
    assert.deepEqual(requests(b.log)[0], { id: 1, op: 'open', chip: 'esp32s3', port: '/dev/ttyACM0' });
    await b.ef.close();
  });

  it('a missing image is refused before any worker starts', async () => {
    rmSync(image);
    const { ef, log } = driver({});
    await assert.rejects(ef.summary(), code('ESPEFUSE_NO_IMAGE', new RegExp(`^no virtual chip image at ${image};`)));
    assert.deepEqual(starts(log), []);
    assert.deepEqual(ef.connection, { mode: 'none', processes: 0 });
  });

  it('burnKey: the block, HMAC_UP, no confirmation and the key down the pipe, then the re-read; SIGINT and SIGTERM only noted meanwhile', async () => {
    const { ef, log } = driver({ steps: [null, [{ waitFile: 'go' }, { send: { ok: true, aborted: false } }], [{ send: { ok: true, json: summary(2) } }]] });
    const sigint = process.listeners('SIGINT').length;
    const sigterm = process.listeners('SIGTERM').length;
    const burning = ef.burnKey('2', KEY);
    await until(() => requests(log).length === 2, 'the burn was asked');
    assert.equal(process.listeners('SIGTERM').length, sigterm + 1);
    const listeners = process.listeners('SIGINT');
    assert.equal(listeners.length, sigint + 1);
    const note: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((s: string) => { note.push(s); return true; }) as typeof write;
    try { (listeners.at(-1) as () => void)(); } finally { process.stderr.write = write; }
    assert.deepEqual(note, ['efuse-attest: an eFuse burn is in progress; waiting for espefuse to finish\n']);
    go();
    const after = await burning;
    assert.equal(after.keys[2]!.purpose, 'HMAC_UP');
    assert.equal(process.listeners('SIGINT').length, sigint);
    assert.equal(process.listeners('SIGTERM').length, sigterm);
    assert.deepEqual(requests(log), [
      { id: 1, op: 'open', chip: 'esp32s3', virt: image },
      { id: 2, op: 'burn-key', block: 'BLOCK_KEY2', purpose: 'HMAC_UP', confirm: false, key: toHex(KEY) },
      { id: 3, op: 'summary' },
    ]);
    assert.deepEqual(ef.connection, { mode: 'session', processes: 1, pid: starts(log)[0]!.pid });
    await ef.close();
  });

  it('"Aborting." (an aborted burn-key, exit status 0 on the command line) is BURN_UNCONFIRMED when the re-read shows no burn', async () => {
    const { ef } = driver({ steps: [null, [{ send: { ok: true, aborted: true } }]] });
    await assert.rejects(ef.burnKey('BLOCK_KEY0', KEY), code('BURN_UNCONFIRMED',
      'espefuse reported success but BLOCK_KEY0 of device 7cdfa1000001 is now purpose USER, readable, empty, not HMAC_UP and read-protected'));
    assert.equal(ef.connection.mode, 'session');
    await ef.close();
  });

  it('a failed request is ESPEFUSE_FAILED with espefuse\'s message, else its output, the key never shown; the session goes on', async () => {
    const hex = toHex(KEY);
    const { ef, log } = driver({
      steps: [null,
        [{ send: { ok: false, error: { type: 'FatalError', message: `  BLOCK_KEY0 is read-protected.\n   The key ${hex} can not be read  `, output: 'x' } } }],
        [{ send: { ok: false, error: { type: 'FatalError', message: '', output: 'espefuse v5.0.2\nA fatal error occurred: from the log\n' } } }],
        [{ send: { ok: false } }],
        [{ send: { ok: false, error: { type: 'X', output: 'A fatal error occurred: an error without a message' } } }],
        [{ send: { ok: false, error: { type: 'X', message: ' \n ', output: `bad ${hex}` } } }],
        [{ send: { ok: true } }],
        [{ send: { ok: true, json: 'not json' } }],
      ],
    });
    await assert.rejects(ef.burnKey('BLOCK_KEY0', KEY), code('ESPEFUSE_FAILED', `espefuse burn-key on virt ${image} failed: BLOCK_KEY0 is read-protected. The key [key] can not be read`));
    await assert.rejects(ef.summary(), code('ESPEFUSE_FAILED', `espefuse summary on virt ${image} failed: from the log`));
    await assert.rejects(ef.summary(), code('ESPEFUSE_FAILED', `espefuse summary on virt ${image} failed: no output`));
    await assert.rejects(ef.summary(), code('ESPEFUSE_FAILED', `espefuse summary on virt ${image} failed: an error without a message`));
    await assert.rejects(ef.burnKey('BLOCK_KEY0', KEY), code('ESPEFUSE_FAILED', `espefuse burn-key on virt ${image} failed: bad [key]`));
    await assert.rejects(ef.summary(), code('ESPEFUSE_OUTPUT', `espefuse summary on virt ${image} gave no JSON`));
    await assert.rejects(ef.summary(), code('ESPEFUSE_OUTPUT', 'espefuse summary output is not what was expected (not JSON)'));
    assert.equal(starts(log).length, 1, 'one worker throughout');
    assert.deepEqual(ef.connection, { mode: 'session', processes: 1, pid: starts(log)[0]!.pid });
    await ef.close();
  });

  it('a chip that cannot be opened ends its worker and fails the step; the next call starts a new worker', async () => {
    const { ef, log } = driver({ steps: [[{ send: { ok: false, error: { type: 'FatalError', message: 'could not open port /dev/ttyUSB7', output: '' } } }]] }, { port: '/dev/ttyUSB7' });
    await assert.rejects(ef.summary(), code('ESPEFUSE_FAILED', 'espefuse summary on port /dev/ttyUSB7 failed: could not open port /dev/ttyUSB7'));
    assert.equal(ended(log), true, 'the worker was closed');
    assert.deepEqual(ef.connection, { mode: 'none', processes: 1 });
    await ef.summary();
    assert.deepEqual(ef.connection, { mode: 'session', processes: 2, pid: starts(log)[1]!.pid });
    await ef.close();
  });

  it('a worker that cannot serve: espefuse runs as a command from then on', async () => {
    const { ef, log } = driver({ start: [{ send: { ready: false, error: 'ImportError: no espefuse' } }, { exit: 3 }] }, { bin: commandEspefuse() });
    assert.equal((await ef.summary()).mac, '7cdfa1000001');
    assert.deepEqual(ef.connection, { mode: 'command', processes: 2 });
    await ef.summary();
    assert.deepEqual(ef.connection, { mode: 'command', processes: 3 });
    assert.equal(starts(log).length, 1, 'the worker is not tried again');
    assert.equal(readFileSync(join(ctx.dir, 'calls.txt'), 'utf8').trim().split('\n').length, 2);
  });

  it('a worker that does not start in time fails the step with ESPEFUSE_TIMEOUT; the next call tries a worker again', async () => {
    const { ef, path } = driver({ start: [] }, { timeoutMs: 300, bin: commandEspefuse() });
    await assert.rejects(ef.summary(), code('ESPEFUSE_TIMEOUT', `espefuse summary on virt ${image} did not start: ${path} ${workerScript()} was not ready within 0.3 s`));
    await assert.rejects(ef.burnKey('BLOCK_KEY1', KEY), code('ESPEFUSE_TIMEOUT', /^espefuse burn-key on virt .* did not start: /));
    assert.deepEqual(ef.connection, { mode: 'none', processes: 2 });
    assert.equal(existsSync(join(ctx.dir, 'calls.txt')), false, 'no command ran');
  });

  it('a session that ended between steps fails the next step with ESPEFUSE_EXITED and its stderr; the one after opens a new session', async () => {
    const { ef, log } = driver({ start: [{ stderr: 'one\ntwo\nthree\nfour\n' }, ...READY], steps: [null, [{ send: { ok: true, json: summary() } }, { exit: 3 }]] });
    await ef.summary();
    const pid = starts(log)[0]!.pid;
    await until(() => ef.connection.pid === undefined, 'the worker has exited');
    await assert.rejects(ef.burnKey('BLOCK_KEY0', KEY), code('ESPEFUSE_EXITED',
      `the espefuse session on virt ${image} ended unexpectedly (pid ${pid}, exit 3): two three four; burn-key was not run. Re-read the eFuses before doing anything else`));
    assert.equal(requests(log).filter((r) => r.op === 'burn-key').length, 0);
    await ef.summary();
    assert.equal(ef.connection.processes, 2);
    const second = starts(log)[1]!.pid;
    process.kill(second, 'SIGKILL');
    await until(() => ef.connection.pid === undefined, 'the worker has exited');
    await assert.rejects(ef.summary(), code('ESPEFUSE_EXITED',
      `the espefuse session on virt ${image} ended unexpectedly (pid ${second}, SIGKILL): two three four; summary was not run. Re-read the eFuses before doing anything else`));
    await ef.close();
  });

  it('a session that ended without a word: how it ended, nothing after it', async () => {
    const { ef, log } = driver({ steps: [null, [{ send: { ok: true, json: summary() } }, { exit: 0 }]] });
    await ef.summary();
    const pid = starts(log)[0]!.pid;
    await until(() => ef.connection.pid === undefined, 'the worker has exited');
    await assert.rejects(ef.summary(), code('ESPEFUSE_EXITED',
      `the espefuse session on virt ${image} ended unexpectedly (pid ${pid}, exit 0); summary was not run. Re-read the eFuses before doing anything else`));
    await ef.close();
  });

  it('close() while the session is starting ends that session', async () => {
    const { ef, log } = driver({});
    const reading = assert.rejects(ef.summary(), code('ESPEFUSE_EXITED', `espefuse summary on virt ${image} did not finish: its espefuse process was let go`));
    await ef.close();
    assert.equal(ended(log), true, 'the worker was asked to end');
    assert.equal(starts(log).length, 1);
    assert.equal(alive(starts(log)[0]!.pid), false);
    await reading;
    assert.deepEqual(ef.connection, { mode: 'session', processes: 1 });
  });

  it('session: false runs the command even when a worker Python is given', async () => {
    const s = standIn({ summary: summary() });
    const ef = new Espefuse('esp32s3', { kind: 'virt', image }, { python: s.path, bin: commandEspefuse(), session: false });
    assert.equal((await ef.summary()).mac, '7cdfa1000001');
    assert.deepEqual(ef.connection, { mode: 'command', processes: 1 });
    assert.deepEqual(s.pids(), []);
  });

  it('a worker that dies during a step fails it with ESPEFUSE_EXITED; the next call opens a new session at once', async () => {
    const { ef, log } = driver({ steps: [null, [{ exit: 4 }]] });
    const first = ef.summary();
    await assert.rejects(first, code('ESPEFUSE_EXITED', new RegExp(`^espefuse summary on virt ${image} did not finish: its espefuse process \\(pid \\d+\\) exited \\(exit 4\\)$`)));
    assert.equal((await ef.summary()).mac, '7cdfa1000001');
    assert.equal(starts(log).length, 2);
    await ef.close();
  });

  it('a read that times out is killed with its worker; a burn that times out is left to finish', async () => {
    const a = driver({ steps: [null, []] }, { timeoutMs: 1500 });
    await assert.rejects(a.ef.summary(), code('ESPEFUSE_TIMEOUT', `espefuse summary on virt ${image} did not finish within 1.5 s`));
    const pid = starts(a.log)[0]!.pid;
    await until(() => !alive(pid), 'killed');
    assert.equal(ended(a.log), false, 'killed, not asked to end');
    const b = driver({ steps: [null, [{ untilEnd: true }, { waitFile: 'go' }, { send: { ok: true, aborted: false } }, { exit: 0 }]] }, { timeoutMs: 1500 });
    await assert.rejects(b.ef.burnKey('BLOCK_KEY0', KEY), code('ESPEFUSE_TIMEOUT',
      `espefuse burn-key on virt ${image} did not finish within 1.5 s; it was left running: do not disconnect the chip, and re-read its eFuses before doing anything else`));
    const burner = starts(b.log)[0]!.pid;
    await until(() => ended(b.log), 'its input was closed');
    assert.ok(alive(burner), 'the burn was not killed');
    go();
    await until(() => !alive(burner), 'it exits once done');
    await b.ef.close();
  });

  it('a session started while the last one is closing waits for its worker to end', async () => {
    // The first worker, asked to end, lingers until a second one starts (at most 1.5 s): a second
    // started before the first has ended would see it alive.
    const { ef, log } = driver({ atEnd: [{ waitFile: 'started-1', ms: 1500 }, { exit: 0 }] });
    await ef.summary();
    const closing = ef.close();
    await until(() => ended(log), 'the first worker was asked to end');
    await ef.summary();
    await closing;
    const [first, second] = starts(log);
    assert.deepEqual(second!.alive, [], `the first worker (${first!.pid}) had ended when the second started`);
    await ef.close();
  });
});

describe('espefuse driver: command-mode process handling', function () {
  this.timeout(30_000);
  const { ctx, go } = fixture();
  let image = '';
  beforeEach(() => {
    image = join(ctx.dir, 'chip.bin');
    writeFileSync(image, Buffer.alloc(0x200));
  });
  /** A shell-script espefuse running `body` after recording "pid pgid stdout-path stdout-mode" and its arguments. */
  const espefuse = (body: string): string => {
    const p = join(ctx.dir, 'espefuse');
    writeFileSync(p, `#!/bin/sh
out=$(readlink /proc/$$/fd/1)
echo "$$ $(cut -d' ' -f5 /proc/$$/stat) $out $(stat -L -c %a /proc/$$/fd/1) $(stat -L -c %a /proc/$$/fd/2) $*" >> "${join(ctx.dir, 'runs.txt')}"
echo "NO_COLOR=$NO_COLOR TERM=$TERM COLUMNS=$COLUMNS PYTHONUNBUFFERED=$PYTHONUNBUFFERED PYTHONIOENCODING=$PYTHONIOENCODING EFUSE_ATTEST_PASSPHRASE=\${EFUSE_ATTEST_PASSPHRASE-unset}" > "${join(ctx.dir, 'env.txt')}"
${body}
`);
    chmodSync(p, 0o755);
    return p;
  };
  const runs = () => existsSync(join(ctx.dir, 'runs.txt'))
    ? readFileSync(join(ctx.dir, 'runs.txt'), 'utf8').trim().split('\n').map((l) => { const [pid, pgid, out, mode, errMode, ...args] = l.split(' '); return { pid: Number(pid), pgid: Number(pgid), out: out!, mode, errMode, args }; })
    : [];
  const ef = (bin: string, timeoutMs?: number) => new Espefuse('esp32s3', { kind: 'virt', image }, { bin, session: false, ...(timeoutMs ? { timeoutMs } : {}) });

  it('output goes to private files that are gone afterwards; a read runs in this process group, with the child environment', async () => {
    const saved = process.env.EFUSE_ATTEST_PASSPHRASE;
    process.env.EFUSE_ATTEST_PASSPHRASE = 'not for children';
    let r;
    try { r = await ef(espefuse('echo out; echo err >&2')).run(['summary']); } finally {
      if (saved === undefined) delete process.env.EFUSE_ATTEST_PASSPHRASE; else process.env.EFUSE_ATTEST_PASSPHRASE = saved;
    }
    assert.deepEqual(r, { stdout: 'out\n', stderr: 'err\n' });
    assert.equal(readFileSync(join(ctx.dir, 'env.txt'), 'utf8'),
      'NO_COLOR=1 TERM=dumb COLUMNS=200 PYTHONUNBUFFERED=1 PYTHONIOENCODING=utf-8 EFUSE_ATTEST_PASSPHRASE=unset\n');
    const [run] = runs();
    assert.equal(run!.mode, '600');
    assert.equal(run!.errMode, '600');
    assert.match(run!.out, /\/efuse-attest-run-[^/]+\/stdout\.txt$/);
    assert.equal(existsSync(run!.out), false, 'removed');
    assert.notEqual(run!.pgid, run!.pid);
    assert.deepEqual(run!.args, ['--chip', 'esp32s3', '--virt', '--path-efuse-file', image, 'summary']);
    const fds = () => readdirSync('/proc/self/fd').length;
    const before = fds();
    await ef(espefuse('echo out')).run(['summary']);
    await assert.rejects(ef(espefuse('exit 1')).run(['summary']), code('ESPEFUSE_FAILED', /exit 1/));
    assert.equal(fds(), before, 'the output files are closed');
  });

  it('a non-zero exit or a signal is ESPEFUSE_FAILED with espefuse\'s own error, from stderr before stdout', async () => {
    await assert.rejects(ef(espefuse('echo "A fatal error occurred: in stdout"; exit 1')).run(['summary']),
      code('ESPEFUSE_FAILED', `espefuse summary on virt ${image} failed (exit 1): in stdout`));
    await assert.rejects(ef(espefuse('echo "A fatal error occurred: in stdout"; echo "A fatal error occurred: in stderr" >&2; exit 2')).run(['burn-key']),
      code('ESPEFUSE_FAILED', `espefuse burn-key on virt ${image} failed (exit 2): in stderr`));
    await assert.rejects(ef(espefuse('printf warning >&2; echo "error: bad option"; exit 2')).run(['summary']),
      code('ESPEFUSE_FAILED', `espefuse summary on virt ${image} failed (exit 2): bad option`), 'stderr and stdout are separate lines');
    await assert.rejects(ef(espefuse('echo "last words" >&2; kill -TERM $$')).run(['summary']),
      code('ESPEFUSE_FAILED', `espefuse summary on virt ${image} failed (SIGTERM): last words`));
  });

  it('a program that cannot run is ESPEFUSE_MISSING with the spawn error as its cause', async () => {
    const none = join(ctx.dir, 'none');
    await assert.rejects(ef(none).run(['summary']), (e: unknown) => {
      code('ESPEFUSE_MISSING', `cannot run espefuse (${none}): spawn ${none} ENOENT`)(e);
      assert.equal(((e as Error).cause as NodeJS.ErrnoException).code, 'ENOENT');
      return true;
    });
  });

  it('"Aborting." with exit status 0 is no burn: the re-read decides, BURN_UNCONFIRMED', async () => {
    const bin = espefuse(`for a in "$@"; do
  if [ "$a" = burn-key ]; then echo "Type 'BURN' (all capitals) to continue."; echo "Aborting."; exit 0; fi
done
prev=""
for a in "$@"; do
  if [ "$prev" = --file ]; then printf '%s' '${JSON.stringify(blankSummary())}' > "$a"; fi
  prev="$a"
done`);
    await assert.rejects(ef(bin).burnKey('BLOCK_KEY0', KEY), code('BURN_UNCONFIRMED',
      'espefuse reported success but BLOCK_KEY0 of device 7cdfa1000001 is now purpose USER, readable, empty, not HMAC_UP and read-protected'));
    const [burn, read] = runs();
    assert.equal(burn!.pgid, burn!.pid, 'a burn runs in its own process group');
    assert.notEqual(read!.pgid, read!.pid);
    const file = read!.args.at(-1)!;
    assert.match(file, /\/efuse-attest-summary-[^/]+\/summary\.json$/);
    assert.equal(existsSync(file), false, 'the summary file is removed');
  });

  it('SIGINT and SIGTERM are only noted while a burn runs', async () => {
    const sigint = process.listeners('SIGINT').length;
    const sigterm = process.listeners('SIGTERM').length;
    const bin = espefuse(`while [ ! -e "${join(ctx.dir, 'go')}" ]; do sleep 0.05; done`);
    const burning = ef(bin).run(['burn-key'], { critical: true });
    await until(() => runs().length === 1, 'the burn runs');
    assert.equal(process.listeners('SIGINT').length, sigint + 1);
    assert.equal(process.listeners('SIGTERM').length, sigterm + 1);
    go();
    await burning;
    assert.equal(process.listeners('SIGINT').length, sigint);
    assert.equal(process.listeners('SIGTERM').length, sigterm);
    const reading = ef(espefuse(`while [ ! -e "${join(ctx.dir, 'go2')}" ]; do sleep 0.05; done`)).run(['summary']);
    await until(() => runs().length === 2, 'the read runs');
    assert.equal(process.listeners('SIGINT').length, sigint, 'not for a read');
    go('go2');
    await reading;
  });

  it('a read that times out is killed; a burn that times out is left running and told so', async () => {
    await assert.rejects(ef(espefuse('exec sleep 30'), 500).run(['summary']), code('ESPEFUSE_TIMEOUT', `espefuse summary on virt ${image} did not finish within 0.5 s`));
    const reader = runs()[0]!.pid;
    await until(() => !alive(reader), 'killed');
    const bin = espefuse(`while [ ! -e "${join(ctx.dir, 'go')}" ]; do sleep 0.05; done`);
    await assert.rejects(ef(bin, 500).run(['burn-key'], { critical: true }), code('ESPEFUSE_TIMEOUT',
      `espefuse burn-key on virt ${image} did not finish within 0.5 s; it was left running: do not disconnect the chip, and re-read its eFuses before doing anything else`));
    const burner = runs()[1]!.pid;
    assert.ok(alive(burner), 'not killed');
    go();
    await until(() => !alive(burner), 'it ends on its own');
  });
});

function blankSummary(): Record<string, unknown> {
  const ZERO = '0x' + '00'.repeat(32);
  const f = (value: unknown, raw: unknown) => ({ value, raw_value: raw, readable: true, writeable: true });
  const d: Record<string, unknown> = { MAC: f('7c:df:a1:00:00:01 (OK)', '0x7cdfa1000001'), SECURE_BOOT_EN: f(false, 0), RD_DIS: f(0, 0) };
  for (let s = 0; s < 6; s++) { d[`BLOCK_KEY${s}`] = f(ZERO, ZERO); d[`KEY_PURPOSE_${s}`] = f('USER', 0); }
  return d;
}

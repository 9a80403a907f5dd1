// Contract firmware on the emulator: a test module run as "main" (real XS engine, the native C, the
// simulated IDF) that calls a native module with good and bad arguments and traces one line,
// "<tag> <JSON>", with what each call returned or threw. Used by emulator-idf (efuse) and
// native-crc32 (the CRC byte loop).
import assert from 'node:assert/strict';
import { startEmulator } from '../../host/emulator.js';

export interface Call { name: string; ok: boolean; value?: unknown; error?: string; message?: string }

export class ContractCalls {
  constructor(private readonly calls: Map<string, Call>) {}

  /** Whether the contract made a call of that name (some depend on the engine). */
  has(name: string): boolean { return this.calls.has(name); }

  /** What the call returned; fails when it threw or is missing. */
  value(name: string): unknown {
    const c = this.calls.get(name);
    assert.ok(c, `no call ${name}`);
    assert.equal(c.ok, true, `${name} threw ${c.error}: ${c.message}`);
    return c.value;
  }

  /** The call threw `error` with a message matching `message`. */
  thrown(name: string, error: string, message: RegExp): void {
    const c = this.calls.get(name);
    assert.ok(c, `no call ${name}`);
    assert.equal(c.ok, false, `${name} must throw, returned ${JSON.stringify(c.value)}`);
    assert.equal(c.error, error, `${name}: ${c.message}`);
    assert.match(c.message!, message, name);
  }
}

/** Runs `main` on an emulated `chip` with eFuse `image` and returns its calls, by name. */
export async function runContract(opts: { chip: string; image: string; main: string; tag: string; silicon?: string }): Promise<ContractCalls> {
  const prefix = `${opts.tag} `;
  let line = '';
  const logs: string[] = [];
  const emu = await startEmulator({
    chip: opts.chip, efuse: opts.image, main: opts.main, verbose: true, ...(opts.silicon ? { silicon: opts.silicon } : {}),
    onLog: (l) => { if (l.startsWith(prefix)) line = l.slice(prefix.length); else logs.push(l); },
  });
  try {
    const deadline = Date.now() + 10_000;
    while (!line && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(line, `no ${opts.tag} line from the emulator: ${logs.slice(-5).join(' / ')}`);
  } finally {
    await emu.stop();
  }
  return new ContractCalls(new Map((JSON.parse(line) as Call[]).map((c) => [c.name, c])));
}

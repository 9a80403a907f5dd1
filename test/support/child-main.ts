// The child side of child-call.ts: imports a module, optionally drops to another user, calls one of
// its functions with JSON arguments and writes the outcome (and, under StrykerJS, which mutants the
// call reached) as one JSON line on stdout. Not a test file: child-call.ts starts it.
import { type ChildOutcome, type ChildRequest, strykerNs as stryker } from './child-call.js';

type Fn = (...args: unknown[]) => unknown;

/** `name` may be a path such as `FileLock.acquire`; the function is called on its owner. */
async function resolve(spec: { module: string; fn: string }): Promise<{ self: unknown; fn: Fn }> {
  let self: unknown;
  let value: unknown = await import(spec.module);
  for (const part of spec.fn.split('.')) {
    self = value;
    value = (value as Record<string, unknown>)[part];
  }
  if (typeof value !== 'function') throw new TypeError(`${spec.module} has no function ${spec.fn}`);
  return { self, fn: value as Fn };
}

const CALL = 'child call';

/**
 * The mutants the call reached. Code run while modules load (static mutants) is left out, as the
 * group leaves it out of its routine run: the call's coverage is kept apart under a test id of its own.
 */
const reached = (): string[] => Object.keys(stryker()?.mutantCoverage?.perTest?.[CALL] ?? {});

const req = JSON.parse(process.argv[2]!) as ChildRequest;
let out: ChildOutcome;
try {
  for (const b of req.before ?? []) {
    const { self, fn } = await resolve(b);
    await fn.apply(self, b.args ?? []);
  }
  const { self, fn } = await resolve(req);
  // Every module is loaded by now, so nothing below needs to read the (possibly private) build tree.
  if (req.user) {
    process.setgroups!([]);
    process.setgid!(req.user.gid);
    process.setuid!(req.user.uid);
  }
  const ns = stryker();
  if (ns) ns.currentTestId = CALL;
  try {
    out = { ok: true, value: await fn.apply(self, req.args ?? []) };
  } catch (err) {
    const e = err as Error & { code?: unknown; cause?: { code?: unknown } };
    out = { ok: false, error: { name: e?.name, message: e?.message, code: e?.code, causeCode: e?.cause?.code } };
  }
} catch (err) {
  out = { ok: false, setup: String((err as Error)?.stack ?? err) };
}
out.reached = reached();
process.stdout.write(JSON.stringify(out) + '\n');

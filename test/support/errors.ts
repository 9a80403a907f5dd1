// One check for the project's coded errors: the class, the code, and the exact message (a string)
// or its pattern. Used as the predicate of assert.rejects / assert.throws.
import assert from 'node:assert/strict';

export const codedError = <E extends Error & { code: string }>(cls: abstract new (...args: never[]) => E, code: string, msg: string | RegExp) =>
  (e: unknown): boolean => {
    assert.ok(e instanceof cls, String(e));
    assert.equal(e.code, code);
    if (typeof msg === 'string') assert.equal(e.message, msg); else assert.match(e.message, msg);
    return true;
  };

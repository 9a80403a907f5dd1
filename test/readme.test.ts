// The README is checked against the code (STYLE §15): its two set-up commands are the package's
// scripts and .ci/run runs the test one; every CLI line names a real command and only options
// that command takes. `npm run demo` itself runs in test/demo.test.ts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { commands } from '../host/cli/commands/index.js';
import { ROOT } from './support/vectors.js';

const README = readFileSync(ROOT + 'README.md', 'utf8');
const GLOBAL_OPTIONS = ['--json', '--debug', '--help'];

/** The lines of the README's fenced block that follows `heading`. */
function block(heading: string): string[] {
  const at = README.indexOf(heading);
  assert.ok(at >= 0, `README has "${heading}"`);
  const open = README.indexOf('```', at);
  const close = README.indexOf('```', open + 3);
  return README.slice(README.indexOf('\n', open) + 1, close).split('\n').filter((l) => l.trim() !== '');
}

describe('README', () => {
  it('its two commands are package scripts, and .ci/run runs the test one', () => {
    const pkg = JSON.parse(readFileSync(ROOT + 'package.json', 'utf8')) as { scripts: Record<string, string> };
    const lines = block('## Two commands');
    assert.deepEqual(lines.map((l) => l.split('#')[0].trim()), ['npm run demo', 'npm test']);
    assert.match(pkg.scripts.demo, /bin\.js demo$/);
    assert.match(pkg.scripts.test, /scripts\/test\.sh/);
    assert.match(readFileSync(ROOT + 'scripts/test.sh', 'utf8'), /mocha/);
    assert.match(readFileSync(ROOT + '.ci/run', 'utf8'), /^npm test$/m);
  });

  it('every CLI line names a command, and only options that command documents', async () => {
    const lines = block('## CLI');
    assert.ok(lines.length >= 10);
    const seen = new Set<string>();
    for (const line of lines) {
      const m = /^efuse-attest\s+(\w+)(.*)$/.exec(line);
      assert.ok(m, `"${line}" starts with efuse-attest <command>`);
      const entry = commands.find((c) => c.name === m[1]);
      assert.ok(entry, `README names a command that exists: ${m[1]}`);
      const command = await entry.load();
      seen.add(command.name);
      for (const opt of m[2].match(/--[a-z][a-z-]*/g) ?? []) {
        assert.ok(GLOBAL_OPTIONS.includes(opt) || opt.slice(2) in command.options, `${command.name} takes ${opt}`);
        assert.ok(GLOBAL_OPTIONS.includes(opt) || command.usage.includes(opt), `${command.name}'s help documents ${opt}`);
      }
    }
    assert.deepEqual(commands.map((c) => c.name).filter((n) => !seen.has(n)), [], 'every command is in the README');
  });
});

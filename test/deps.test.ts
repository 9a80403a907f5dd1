// Dependencies are exact and minimal: no npm package the code does not use (port listing goes through
// the platform binding that also opens ports), and espefuse pinned to the one esptool release its
// commands, prompts and JSON were checked against.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './support/vectors.js';

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

describe('dependencies', () => {
  it('the serialport umbrella package is neither a dependency nor imported (the bindings list ports)', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies?: Record<string, string>; devDependencies?: Record<string, string> };
    assert.equal(pkg.dependencies?.serialport, undefined);
    assert.equal(pkg.devDependencies?.serialport, undefined);
    const umbrella = new RegExp(`from '${'serial'}port'`);
    for (const dir of ['host', 'test', 'bench']) {
      for (const f of sources(join(ROOT, dir))) assert.doesNotMatch(readFileSync(f, 'utf8'), umbrella, f);
    }
  });

  it('the runtime dependencies are exactly the npm packages the shipped code (host/, protocol/) imports', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const imported = new Set<string>();
    for (const dir of ['host', 'protocol']) {
      for (const f of sources(join(ROOT, dir))) {
        for (const m of readFileSync(f, 'utf8').matchAll(/^\s*(?:import|export)\b[^'"]*?from '([^'.][^']*)'|import\('([^'.][^']*)'\)/gm)) {
          const spec = (m[1] ?? m[2])!;
          if (spec.startsWith('node:')) continue;
          imported.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
        }
      }
    }
    assert.deepEqual(Object.keys(pkg.dependencies).sort(), [...imported].sort());
  });

  it('scripts/setup.sh pins esptool to an exact version', () => {
    const setup = readFileSync(join(ROOT, 'scripts/setup.sh'), 'utf8');
    assert.match(setup, /^ESPTOOL_VERSION=\d+\.\d+\.\d+$/m);
    assert.match(setup, /"esptool==\$ESPTOOL_VERSION"/);
    assert.doesNotMatch(setup, /esptool>=/);
  });
});

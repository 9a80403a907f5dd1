// Runs the built CLI as a user would, capturing stdout, stderr and the exit code.
import { spawn } from 'node:child_process';
import { ROOT } from './vectors.js';

export interface CliResult { code: number; stdout: string; stderr: string }

export function cli(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [ROOT + 'dist/host/cli/bin.js', ...args], { env: { ...process.env, ...opts.env }, cwd: ROOT });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`efuse-attest ${args.join(' ')} timed out`)); }, opts.timeoutMs ?? 60_000);
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code: code ?? -1, stdout, stderr }); });
    child.stdin.end(opts.input ?? '');
  });
}

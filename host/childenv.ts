// The environment given to child processes (espefuse, the emulator): the caller's, without the
// secrets this program reads from its own environment. A child never needs the vault passphrase, and
// anything it runs or logs (a Python plug-in, a crash report, /proc/<pid>/environ) must not see it.

/** Variables that hold secrets of efuse-attest; never passed on. */
export const SECRET_ENV: readonly string[] = Object.freeze(['EFUSE_ATTEST_PASSPHRASE']);

/** process.env without SECRET_ENV, with `extra` over it. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of SECRET_ENV) delete env[name];
  return { ...env, ...extra };
}

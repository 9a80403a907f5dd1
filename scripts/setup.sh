#!/usr/bin/env bash
# Set-up for a fresh machine, idempotent and quick when nothing changed:
# system packages (apt-get), npm packages, espefuse in a project-local virtualenv, the TypeScript
# build (host, protocol, device firmware) and the emulator (XS engine + firmware native C).
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf 'setup: %s\n' "$*" >&2; }

# System tools: a C compiler and make build the emulator; python3-venv makes the espefuse virtualenv.
need=()
command -v cc >/dev/null 2>&1 || need+=(gcc libc6-dev)
command -v make >/dev/null 2>&1 || need+=(make)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  say "installing system packages: ${need[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# --- escrow servers for the tests: PostgreSQL (the database escrow store) and SoftHSM2 (a PKCS#11
# token for key-encryption keys). The tests start their own server and token in temp dirs; nothing
# is used from a system cluster. apt-get update only when something is missing.
escrow_need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || escrow_need+=(postgresql)
[ -e /usr/lib/softhsm/libsofthsm2.so ] || escrow_need+=(softhsm2)
if [ ${#escrow_need[@]} -gt 0 ]; then
  say "installing escrow test servers: ${escrow_need[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${escrow_need[@]}" >/dev/null
fi
# --- end of escrow servers

# npm packages, reinstalled only when the lock file changed.
stamp=node_modules/.efuse-attest-lock
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi

# espefuse (PyPI package esptool) in the project's own virtualenv.
if [ ! -x .venv/bin/espefuse ]; then
  say "creating .venv with esptool"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check 'esptool>=5,<6'
fi

say "building TypeScript and the emulator"
npx tsc -p tsconfig.json
npx tsc -p device/tsconfig.json
make -s -C emulator -j"$(nproc)"

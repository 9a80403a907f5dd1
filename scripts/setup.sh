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

# npm packages, reinstalled only when the lock file changed.
stamp=node_modules/.efuse-attest-lock
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi

# espefuse (PyPI package esptool) in the project's own virtualenv, at the exact version the code and
# docs were checked against (its commands, prompts and JSON field names change between releases).
ESPTOOL_VERSION=5.6.0
have=""
[ -x .venv/bin/python ] && have=$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("esptool"))' 2>/dev/null || true)
if [ ! -x .venv/bin/espefuse ] || [ "$have" != "$ESPTOOL_VERSION" ]; then
  say "installing esptool==$ESPTOOL_VERSION in .venv"
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check "esptool==$ESPTOOL_VERSION"
fi

say "building TypeScript and the emulator"
npx tsc -p tsconfig.json
npx tsc -p device/tsconfig.json
make -s -C emulator -j"$(nproc)"

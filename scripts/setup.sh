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
# The 32-bit emulator of the footprint benchmark (an ESP32's XS is 32-bit): Debian's multilib.
dpkg -s gcc-multilib >/dev/null 2>&1 || need+=(gcc-multilib)
if [ ${#need[@]} -gt 0 ]; then
  say "installing system packages: ${need[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# --- redis-server (verifier cluster tests and benchmarks) -------------------------------------
# The shared-store tests start their own redis-server on loopback; Debian's package provides it.
# Nothing is started here, and the package list is refreshed only when the server is missing.
if ! command -v redis-server >/dev/null 2>&1; then
  say "installing redis-server"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi
# --- end redis-server ---------------------------------------------------------------------------
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

# --- The real-board build check (npm run firmware:check, scripts/firmware-check.ts) -------------------------
# Only when a Moddable SDK ($MODDABLE, with $IDF_PATH) or the sdk-kit (../shared/sdk-kit, or
# $EFUSE_ATTEST_SDK_KIT) is here. Debian's packages for it: stand-in cross compilers for Espressif's
# (gcc-xtensa-lx106 for ESP32 and ESP32-S3, gcc-riscv64-unknown-elf for ESP32-C3), newlib headers, and what
# Moddable's Linux tools build with (libglib2.0-dev, pkg-config, dash). ESP-IDF's kconfgen (PyPI esp-idf-kconfig, the version ESP-IDF v6.0 pins)
# into .venv, for sdkconfig.h where the kit has none. The kit's tools are built once into the user cache
# (~35 s; keyed on the kit's VERSION, as scripts/firmware/sdk.ts computes it). Nothing here downloads a
# toolchain.
kit=${EFUSE_ATTEST_SDK_KIT:-../shared/sdk-kit}
if [ -n "${MODDABLE:-}" ] || [ -f "$kit/VERSION" ]; then
  need=()
  for p in gcc-xtensa-lx106 gcc-riscv64-unknown-elf libnewlib-dev libglib2.0-dev pkg-config dash; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
  done
  if [ ${#need[@]} -gt 0 ]; then
    say "installing system packages for the firmware check: ${need[*]}"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
  if ! .venv/bin/python -c 'import kconfgen' >/dev/null 2>&1; then
    say "installing ESP-IDF's kconfgen into .venv"
    .venv/bin/pip install --quiet --disable-pip-version-check 'esp-idf-kconfig==3.14.0'
  fi
  if [ -z "${MODDABLE:-}" ]; then
    tools="${XDG_CACHE_HOME:-$HOME/.cache}/efuse-attest/moddable-tools-$(sha256sum "$kit/VERSION" | cut -c1-12)"
    if ! cmp -s "$tools/.built" "$kit/VERSION"; then
      say "building the Moddable tools from the sdk-kit into $tools"
      bash "$kit/scripts/build-tools.sh" "$kit" "$tools"
    fi
  fi
fi
# --- end of the real-board build check -----------------------------------------------------------------------

say "building TypeScript and the emulator"
npx tsc -p tsconfig.json
npx tsc -p device/tsconfig.json
make -s -C emulator -j"$(nproc)"

# The emulator also on a Moddable SDK's own XS engine (the one a device runs), when an SDK is here:
# $MODDABLE, else the SDK kit beside the project (../shared/sdk-kit). Its binaries go to
# emulator/build/sdk; the tests run the emulator suites on both engines (scripts/test.sh).
sdk_xs=""
if [ -n "${MODDABLE:-}" ] && [ -f "$MODDABLE/xs/sources/xsAll.h" ]; then sdk_xs="$MODDABLE/xs"
elif [ -f ../shared/sdk-kit/moddable/xs/sources/xsAll.h ]; then sdk_xs="$(cd ../shared/sdk-kit/moddable/xs && pwd)"
fi
if [ -n "$sdk_xs" ]; then
  make -s -C emulator -j"$(nproc)" XS="$sdk_xs" BUILD="$PWD/emulator/build/sdk"
  # And built from the firmware as a device carries it: xsl's archive for the ESP32-S3 made by the SDK's
  # own tools, compiled in (emulator/build/linked; test/emulator-linked.test.ts, benchmark 5).
  node dist/scripts/firmware/linked.js esp32s3 >/dev/null || say "the linked emulator was not built (the reason is above)"
fi

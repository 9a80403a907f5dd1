#!/usr/bin/env bash
# The test suite: everything on the emulator built with the npm XS engine, then the emulator suites
# again on the Moddable SDK's own XS engine (emulator/build/sdk, built by setup.sh when an SDK is
# here), the engine a device runs. Arguments go to both mocha runs.
set -euo pipefail
cd "$(dirname "$0")/.."
npx mocha 'dist/test/**/*.test.js' "$@"
if [ -x emulator/build/sdk/esp32s3/efuse-attest-emu ]; then
  printf '\nThe emulator suites on the Moddable SDK XS engine (emulator/build/sdk):\n'
  EFUSE_ATTEST_EMULATOR_DIR="$PWD/emulator/build/sdk" npx mocha dist/test/emulator.test.js \
    dist/test/emulator-runtime.test.js dist/test/conformance.test.js "$@"
else
  printf '\nskipped: the emulator suites on a Moddable SDK XS engine (no SDK: set MODDABLE, or put the SDK kit at ../shared/sdk-kit)\n'
fi

#!/usr/bin/env bash
# The test suite: everything on the emulator built with the npm XS engine, then the emulator suites
# again on the Moddable SDK's own XS engine (emulator/build/sdk, built by setup.sh when an SDK is
# here), the engine a device runs. Arguments go to both mocha runs.
#
# Test files run in parallel, one per mocha worker process (TEST_JOBS, default 2: one per core of a
# 2-core machine; TEST_JOBS=1 runs them one after the other in one process). Every suite starts its
# own servers, emulators and virtual chips on free loopback ports and in its own temp directories,
# so files never share state; a worker reuses its PostgreSQL server for the files it runs. The
# longest files start first (LONGEST below), so the workers end together.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="${TEST_JOBS:-2}"
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || { echo "TEST_JOBS must be a positive whole number, got '$jobs'" >&2; exit 2; }
LONGEST=(provision-pg provision-cli provision provision-crash reliability provision-parallel emulator-idf
  espefuse-session emulator-runtime firmware-check firmware-manifest provision-resume escrow-contract keyfiles emulator)

files=()
for f in "${LONGEST[@]}"; do [ -f "dist/test/$f.test.js" ] && files+=("dist/test/$f.test.js"); done
for f in dist/test/*.test.js; do [[ " ${files[*]} " == *" $f "* ]] || files+=("$f"); done

parallel=()
[ "$jobs" -gt 1 ] && parallel=(--parallel --jobs "$jobs")
npx mocha "${parallel[@]}" "${files[@]}" "$@"
if [ -x emulator/build/sdk/esp32s3/efuse-attest-emu ]; then
  printf '\nThe emulator suites on the Moddable SDK XS engine (emulator/build/sdk):\n'
  EFUSE_ATTEST_EMULATOR_DIR="$PWD/emulator/build/sdk" npx mocha "${parallel[@]}" dist/test/emulator.test.js dist/test/native-crc32.test.js \
    dist/test/emulator-runtime.test.js dist/test/conformance.test.js "$@"
else
  printf '\nskipped: the emulator suites on a Moddable SDK XS engine (no SDK: set MODDABLE, or put the SDK kit at ../shared/sdk-kit)\n'
fi

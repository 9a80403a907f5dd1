#!/usr/bin/env bash
# npm run mutate [group…]: StrykerJS over each group of stryker.config.mjs in turn (default: all,
# the provisioning and espefuse groups last), incremental against mutation/<group>.json. Reports go to
# reports/mutation/<group>.html and .json. Never run by npm test or CI (docs/reliability.md §5).
set -euo pipefail
cd "$(dirname "$0")/.."
groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(protocol verify device escrow provision espefuse)
for g in "${groups[@]}"; do
  printf '\n== mutation testing: %s ==\n' "$g"
  STRYKER_GROUP="$g" npx stryker run stryker.config.mjs
done

#!/usr/bin/env bash
# The test command (README, .ci/run): install dependencies, build the release preset, run ctest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tools/install-deps.sh
cmake --preset release
cmake --build --preset release
ctest --preset release

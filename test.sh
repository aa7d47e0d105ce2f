#!/usr/bin/env bash
# The whole test suite, from a fresh machine that has the .NET SDK, Node.js/npm and Debian's apt:
#   ./test.sh                                        # everything
#   ./test.sh --filter "FullyQualifiedName~Engine"   # extra arguments go to dotnet test
# It installs what the tests need beyond the SDK when it is missing (Debian's chromium, the npm packages in tests/),
# runs `dotnet test OrleansDiffusion.sln` and ends with one line "N passed, N failed". The exit status is non-zero
# when anything failed. It starts nothing that outlives it: the test fixtures start and stop Azurite themselves.
set -uo pipefail
cd "$(dirname "$0")"

log=$(mktemp)
trap 'rm -f "$log"' EXIT

# Debian's chromium for the web page test (playwright-core drives it; it cannot download a browser of its own here).
if [ ! -x /usr/bin/chromium ]; then
  sudo=$([ "$(id -u)" -eq 0 ] || echo sudo)
  if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium; }; then
    echo "test.sh: installing chromium with apt-get failed: the web page test will fail and say so" >&2
  fi
fi

# Azurite (storage and cluster tests), the SignalR JS client and playwright-core (API tests). npm writes
# node_modules/.package-lock.json at the end of a successful install: it dates the install (and a half-finished
# install, which lacks it, is redone). The Azurite fixture installs the packages too when they are missing; doing it
# here keeps the install out of the test timings.
if [ ! tests/node_modules/.package-lock.json -nt tests/package-lock.json ]; then
  if ! npm ci --prefix tests --no-audit --no-fund; then
    echo "test.sh: npm ci --prefix tests failed: the tests will try to install Azurite themselves" >&2
  fi
fi

dotnet test OrleansDiffusion.sln "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# dotnet test prints one summary per test assembly: "Passed!  - Failed: 0, Passed: 19, Skipped: 0, Total: 19, ..."
passed=$(grep -E '^(Passed|Failed)!' "$log" | sed -E 's/.*Passed: *([0-9]+).*/\1/' | awk '{s+=$1} END {print s+0}')
failed=$(grep -E '^(Passed|Failed)!' "$log" | sed -E 's/.*Failed: *([0-9]+),.*/\1/' | awk '{s+=$1} END {print s+0}')
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  # The build or a test host failed before any test could report: count it as a failure.
  failed=1
fi
echo "$passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]

#!/usr/bin/env bash
# `npm test`: type-check, then every unit test (src/**/*.test.ts) and integration test (test/**/*.test.ts)
# with Node's built-in runner. Installs the Debian tools tests need when they are missing and we are root.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
# Debian packages the tests need, as `command:package` (none yet: the HTTP tests use only Node; Redis,
# etcd and Chromium join this list with the features that use them).
for entry in; do command -v "${entry%%:*}" >/dev/null 2>&1 || need+=("${entry#*:}"); done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "test: installing ${need[*]} with apt-get"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "test: missing ${need[*]} (apt-get install ${need[*]})" >&2
  fi
fi
npx tsc -p .
exec node --test --test-concurrency=2 --test-timeout=120000 'src/**/*.test.ts' 'test/**/*.test.ts' 'bench/**/*.test.ts'

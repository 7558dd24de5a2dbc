#!/usr/bin/env bash
# `npm test`: type-check, then every unit test (src/**/*.test.ts) and integration test (test/**/*.test.ts)
# with Node's built-in runner. Installs the Debian tools tests need when they are missing and we are root.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
# Debian packages the tests need, as `command:package`: openssl makes the TLS tests' throwaway CA and is
# the s_client of test/tls.test.ts; redis-server is the real Redis of the global rate-limit tests
# (test/ratelimit*.test.ts). etcd and Chromium join this list with the features that use them.
for entry in openssl:openssl redis-server:redis-server; do command -v "${entry%%:*}" >/dev/null 2>&1 || need+=("${entry#*:}"); done
# Python modules from Debian (checked with Debian's own python3, not a pyenv one on PATH), as `module:package`.
# python3-grpcio is the C-core xDS client of test/xds-interop.test.ts (skipped with a message without it).
for entry in grpc:python3-grpcio; do
  [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import ${entry%%:*}" >/dev/null 2>&1 || need+=("${entry#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "test: installing ${need[*]} with apt-get"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null \
      || echo "test: apt-get install ${need[*]} failed; tests that need them will fail or skip" >&2
  else
    echo "test: missing ${need[*]} (apt-get install ${need[*]})" >&2
  fi
fi
npx tsc -p .
exec node --test --test-concurrency=2 --test-timeout=120000 'src/**/*.test.ts' 'test/**/*.test.ts' 'bench/**/*.test.ts'

#!/usr/bin/env bash
# Regenerates src/xds/gen/ (protobuf-es JS + .d.ts) from Envoy's real v3 protos, as bundled in
# @grpc/grpc-js-xds (deps/: envoy-api, xds, googleapis, protoc-gen-validate).
# The bundled validate.proto lacks StringRules.ignore_empty, which newer Envoy protos use: we patch the copy.
set -euo pipefail
cd "$(dirname "$0")/.."
deps=node_modules/@grpc/grpc-js-xds/deps
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/protos"
cp -r "$deps/envoy-api/envoy" "$deps/xds/xds" "$deps/xds/udpa" "$deps/googleapis/google" "$work/protos/"
mkdir -p "$work/protos/validate"
cp "$deps/protoc-gen-validate/validate/validate.proto" "$work/protos/validate/"
sed -i 's/^\(\s*optional bool strict = 25 \[default = true\];\)/\1\n  optional bool ignore_empty = 26;/' "$work/protos/validate/validate.proto"
grep -q 'ignore_empty = 26' "$work/protos/validate/validate.proto"
cat > "$work/buf.yaml" <<'YAML'
version: v2
modules:
  - path: protos
YAML
cat > "$work/buf.gen.yaml" <<YAML
version: v2
plugins:
  - local: $PWD/node_modules/.bin/protoc-gen-es
    out: $PWD/src/xds/gen
    opt: [target=js+dts, import_extension=js]
    include_imports: true
YAML
rm -rf src/xds/gen
# Everything under envoy/ (config, extensions, service, type): the proxy and control plane grow into them.
# Everything v3 under envoy/ that the bundle can compile (a few files import protos the bundle lacks:
# OpenCensus, OpenTelemetry, CEL); those are removed until a file compiles clean.
find "$work/protos/envoy" -name '*.proto' -regex '.*/v[0-9][a-z0-9]*/.*' ! -path '*/v3/*' -delete
for _ in 1 2 3 4 5; do
  bad=$(cd "$work" && "$OLDPWD/node_modules/.bin/buf" build 2>&1 | grep -o '^protos/[^:]*' | sort -u || true)
  [ -z "$bad" ] && break
  (cd "$work" && rm -f $bad)
done
(cd "$work" && "$OLDPWD/node_modules/.bin/buf" generate --template buf.gen.yaml --path protos/envoy)
echo "generated $(find src/xds/gen -name '*.js' | wc -l) modules into src/xds/gen"

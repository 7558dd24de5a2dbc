#!/usr/bin/env bash
# Regenerates the example CA and certificates used by examples/docs/tls.yaml and docs/tls.md.
# FOR EXAMPLES ONLY: the private keys are public. Valid ten years; EC P-256.
set -euo pipefail
cd "$(dirname "$0")"
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.crt -days 3650 -subj '/CN=Weft Example CA' \
  -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign' 2>/dev/null
leaf() { # name, subjectAltName
  printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=%s\n' "$2" > "$1.ext"
  openssl req -new "${ec[@]}" -keyout "$1.key" -out "$1.csr" -subj "/CN=$1" 2>/dev/null
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -set_serial "0x$(openssl rand -hex 8)" -days 3650 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
leaf server 'DNS:localhost,DNS:*.weft.example,IP:127.0.0.1'   # what Weft presents to clients
leaf backend 'DNS:backend.weft.internal'                        # an upstream that requires mTLS
leaf proxy 'URI:spiffe://weft.example/proxy'                    # Weft's client certificate to that upstream
leaf client 'URI:spiffe://weft.example/client'                  # a client of Weft's mTLS listener

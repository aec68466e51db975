#!/usr/bin/env bash
# Makes a test CA and the certificates for mutual TLS between the parameter
# servers and their clients (hybrec ps --tls-*, hybrec ps-ctl --tls-*,
# trainer ps.tls_*), with the openssl command-line tool:
#
#   DIR/ca.pem                      the CA certificate (both sides' --tls-ca)
#   DIR/server.pem, server-key.pem  the servers' certificate, with subject
#                                   alternative names localhost, 127.0.0.1,
#                                   ::1 and every HOST given
#   DIR/client.pem, client-key.pem  the clients' certificate
#
# usage: scripts/make-certs.sh DIR [HOST...]
# HOST: a name or IP address trainers dial the servers by (hybrec-launch:
# the hostfile's names). Keys are EC P-256, private files mode 600. The CA
# key (DIR/ca-key.pem) signs more certificates; keep it off the cluster.
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: $0 DIR [HOST...]" >&2; exit 2; }
command -v openssl >/dev/null || { echo "$0: openssl not found (apt-get install openssl)" >&2; exit 1; }
dir=$1
shift
mkdir -p "$dir"
umask 077

san="DNS:localhost,IP:127.0.0.1,IP:::1"
for host in "$@"; do
  if [[ $host =~ ^[0-9.]+$ || $host == *:* ]]; then san+=",IP:$host"; else san+=",DNS:$host"; fi
done

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

key "$dir/ca-key.pem"
openssl req -x509 -new -key "$dir/ca-key.pem" -sha256 -days 3650 -subj "/CN=hybrec parameter-server CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out "$dir/ca.pem"

# sign NAME CN EXTENDED_KEY_USAGE [SAN]
sign() {
  local name=$1 cn=$2 usage=$3 alt=${4:-}
  local ext="$dir/$name.ext"
  key "$dir/$name-key.pem"
  openssl req -new -key "$dir/$name-key.pem" -subj "/CN=$cn" -out "$dir/$name.csr"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature"
    echo "extendedKeyUsage=$usage"
    [ -z "$alt" ] || echo "subjectAltName=$alt"
  } > "$ext"
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca-key.pem" \
    -CAcreateserial -sha256 -days 825 -extfile "$ext" -out "$dir/$name.pem" 2>/dev/null
  rm -f "$dir/$name.csr" "$ext"
}

sign server hybrec-ps serverAuth "$san"
sign client hybrec-client clientAuth
rm -f "$dir/ca.srl"
chmod 644 "$dir/ca.pem" "$dir/server.pem" "$dir/client.pem"
echo "make-certs: CA, server ($san) and client certificates in $dir"

#!/usr/bin/env bash
# Makes a throwaway CA and server certificates for the TLS tests, with the openssl CLI, in DIR:
#   ca.pem / ca.key                    the test CA (valid for 2 days)
#   good.pem / good.key                signed by the CA for localhost and 127.0.0.1 (SAN)
#   wronghost.pem / wronghost.key      signed by the CA for upstream.invalid only
#   expired.pem / expired.key          signed by the CA for localhost, valid 2020-2021 only
#   selfsigned.pem / selfsigned.key    for localhost and 127.0.0.1, signed by itself
# Usage: make_tls_certs.sh DIR
set -euo pipefail
DIR=${1:?usage: make_tls_certs.sh DIR}
mkdir -p "$DIR"
cd "$DIR"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

key ca.key
openssl req -x509 -new -key ca.key -out ca.pem -days 2 -subj "/CN=Tianshu test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"

# name SUBJECT SAN: a CSR whose extensions the CA copies.
csr() {
  key "$1.key"
  openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$2" -addext "subjectAltName=$3" \
    -addext "basicConstraints=critical,CA:FALSE" -addext "extendedKeyUsage=serverAuth"
}
csr good localhost "DNS:localhost,IP:127.0.0.1"
csr wronghost upstream.invalid "DNS:upstream.invalid"
csr expired localhost "DNS:localhost,IP:127.0.0.1"

# `openssl ca` signs with explicit validity dates (x509 -days cannot date a cert in the past).
: >index.txt
echo 01 >serial
cat >ca.cnf <<'CNF'
[ca]
default_ca = test_ca
[test_ca]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = any
copy_extensions = copy
unique_subject = no
[any]
commonName = supplied
CNF
sign() {  # name startdate enddate
  openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in "$1.csr" -out "$1.pem" \
    -startdate "$2" -enddate "$3" -notext 2>/dev/null
}
now_minus_hour=$(date -u -d '-1 hour' +%Y%m%d%H%M%SZ)
tomorrow=$(date -u -d '+1 day' +%Y%m%d%H%M%SZ)
sign good "$now_minus_hour" "$tomorrow"
sign wronghost "$now_minus_hour" "$tomorrow"
sign expired 20200101000000Z 20210101000000Z

key selfsigned.key
openssl req -x509 -new -key selfsigned.key -out selfsigned.pem -days 2 -subj "/CN=localhost" \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1"
rm -f ./*.csr ./*.old ./[0-9A-F][0-9A-F].pem

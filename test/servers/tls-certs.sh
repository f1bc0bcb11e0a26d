#!/usr/bin/env bash
# Makes a test CA and a server certificate signed by it (CN localhost, SAN DNS:localhost and
# IP:127.0.0.1) into DIR, once: a DIR that already holds them is left as it is (idempotent).
# Also a second CA that signed nothing, for "certificate rejected" tests.
# Usage: tls-certs.sh DIR [OWNER]   (OWNER: chown the server key, e.g. postgres or mysql)
# Files: ca.crt, ca.key, server.crt, server.key, other-ca.crt
set -euo pipefail

DIR=${1:?usage: tls-certs.sh DIR [OWNER]}
OWNER=${2:-}
mkdir -p "$DIR"
cd "$DIR"

if [ ! -s server.crt ] || [ ! -s server.key ] || [ ! -s ca.crt ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj '/CN=tenantctl test CA' \
    -keyout ca.key -out ca.crt >/dev/null 2>&1
  openssl req -newkey rsa:2048 -nodes -subj '/CN=localhost' -keyout server.key -out server.csr >/dev/null 2>&1
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' >server.ext
  openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
    -extfile server.ext -out server.crt >/dev/null 2>&1
  rm -f server.csr server.ext ca.srl
fi
if [ ! -s other-ca.crt ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj '/CN=tenantctl unrelated CA' \
    -keyout other-ca.key -out other-ca.crt >/dev/null 2>&1
  rm -f other-ca.key
fi
# The servers refuse a key others can read (PostgreSQL: 0600 and owned by the server's user).
chmod 0600 server.key ca.key
chmod 0644 server.crt ca.crt other-ca.crt
if [ -n "$OWNER" ]; then chown "$OWNER" server.key server.crt; fi
chmod 0755 "$DIR"

#!/usr/bin/env bash
# compat/security/certs.sh -- the test PKI of the security suite, made with openssl.
#
#   compat/security/certs.sh DIR
#
# Writes into DIR (created), all P-256 EC keys in PKCS#8 PEM (`BEGIN PRIVATE KEY`, unencrypted),
# certificates valid 2 days, v3 with the extensions webpki (rustls) insists on:
#   ca.pem                 the test CA (CA:TRUE, keyCertSign)
#   broker.pem             Runnel's PEM key store: broker key, then broker cert, then ca cert
#                          (SAN IP:127.0.0.1, DNS:localhost; serverAuth): ssl.keystore.location
#   client.pem             a client's PEM key store (key, cert signed by ca, CN=alice-client,
#                          OU=compat,O=runnel; clientAuth): Java ssl.keystore.type=PEM
#   client.key client.crt  the same key and cert apart (librdkafka ssl.key.location and
#                          ssl.certificate.location)
#   rogue-ca.pem           a second CA Runnel does not trust
#   rogue-client.pem, rogue-client.key, rogue-client.crt
#                          a client cert signed by rogue-ca (CN=mallory)
# Idempotent: a DIR that already holds every file is left alone.
set -euo pipefail
DIR=${1:?usage: certs.sh DIR}
mkdir -p "$DIR"
cd "$DIR"
want=(ca.pem broker.pem client.pem client.key client.crt rogue-ca.pem rogue-client.pem rogue-client.key rogue-client.crt)
all=true
for f in "${want[@]}"; do [[ -s $f ]] || all=false; done
$all && exit 0
command -v openssl >/dev/null || { echo "certs.sh: openssl not found" >&2; exit 1; }

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

# ca NAME CN: a self-signed CA.
ca() {
  key "$1.key"
  openssl req -x509 -new -key "$1.key" -sha256 -days 2 -subj "/O=runnel-compat/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$1.pem" 2>/dev/null
}

# leaf NAME CA SUBJECT EKU [SAN]: a key and a certificate signed by CA.
leaf() {
  local name=$1 ca=$2 subj=$3 eku=$4 san=${5:-}
  key "$name.key"
  openssl req -new -key "$name.key" -subj "$subj" -out "$name.csr" 2>/dev/null
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyAgreement"
    echo "extendedKeyUsage=$eku"
    echo "subjectKeyIdentifier=hash"
    echo "authorityKeyIdentifier=keyid"
    [[ -z $san ]] || echo "subjectAltName=$san"
  } >"$name.ext"
  openssl x509 -req -in "$name.csr" -CA "$ca.pem" -CAkey "$ca.key" -CAcreateserial -sha256 -days 2 \
    -extfile "$name.ext" -out "$name.crt" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}

ca ca "runnel compat test CA"
ca rogue-ca "rogue test CA"
leaf broker ca "/O=runnel/OU=compat/CN=localhost" serverAuth "IP:127.0.0.1,DNS:localhost"
leaf client ca "/O=runnel/OU=compat/CN=alice-client" clientAuth
leaf rogue-client rogue-ca "/O=rogue/CN=mallory" clientAuth
cat broker.key broker.crt ca.pem >broker.pem
cat client.key client.crt >client.pem
cat rogue-client.key rogue-client.crt >rogue-client.pem
rm -f broker.key broker.crt ./*.srl
chmod 600 ./*.key ./*.pem
openssl verify -CAfile ca.pem client.crt >/dev/null
openssl verify -CAfile rogue-ca.pem rogue-client.crt >/dev/null

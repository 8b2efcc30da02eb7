#!/bin/sh
# Makes throwaway keys for the push mocks in DIR (created when missing):
#   ca.pem, ca.key           a test CA (clients trust ca.pem)
#   server.pem, server.key   its server certificate for 127.0.0.1 and localhost
#   apns.p8                  an EC P-256 APNs signing key, PKCS#8 PEM, mode 0600
#   apns_pub.pem             its public key (for mock_apns --p8-pub)
#   fcm_sa.json              an FCM service account (RSA 2048), mode 0600:
#                            type, project_id, private_key_id, private_key,
#                            client_email, client_id, token_uri
#
#   gen_certs.sh DIR [TOKEN_URI]
#
# TOKEN_URI goes into fcm_sa.json (default https://127.0.0.1/token; the
# mock also accepts its own https://127.0.0.1:PORT/token as audience, so
# tests that learn the port later override token_uri in their config).
# Prints nothing on success; on failure prints openssl's complaint.
set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: gen_certs.sh DIR [TOKEN_URI]" >&2
	exit 2
fi
dir=$1
token_uri=${2:-https://127.0.0.1/token}
project=authflow-test
email=pushd@authflow-test.iam.gserviceaccount.com

umask 077
mkdir -p "$dir"
err=$dir/.gen_certs.err
trap 'rm -f "$err" "$dir/server.csr" "$dir/server.ext"' EXIT

run() {
	if ! "$@" >/dev/null 2>"$err"; then
		cat "$err" >&2
		echo "gen_certs.sh: failed: $*" >&2
		exit 1
	fi
}

run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	-out "$dir/ca.key"
run openssl req -x509 -new -key "$dir/ca.key" -sha256 -days 2 \
	-subj "/CN=authflow push mock test CA" -out "$dir/ca.pem" \
	-addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,keyCertSign,cRLSign"

run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	-out "$dir/server.key"
run openssl req -new -key "$dir/server.key" -subj "/CN=localhost" \
	-out "$dir/server.csr"
cat >"$dir/server.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
EXT
run openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" \
	-CAkey "$dir/ca.key" -set_serial "0x$(openssl rand -hex 8)" -days 2 \
	-sha256 -extfile "$dir/server.ext" -out "$dir/server.pem"

# The APNs key: Apple hands out PKCS#8 PEM files like this one.
run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	-out "$dir/apns.p8"
run openssl pkey -in "$dir/apns.p8" -pubout -out "$dir/apns_pub.pem"

# The service account: Google's JSON shape with an RSA 2048 key.
run openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
	-out "$dir/fcm.key"
key_id=$(openssl rand -hex 20)
{
	printf '{\n  "type": "service_account",\n'
	printf '  "project_id": "%s",\n' "$project"
	printf '  "private_key_id": "%s",\n' "$key_id"
	printf '  "private_key": "'
	awk '{ printf "%s\\n", $0 }' "$dir/fcm.key"
	printf '",\n  "client_email": "%s",\n' "$email"
	printf '  "client_id": "100000000000000000001",\n'
	printf '  "token_uri": "%s"\n}\n' "$token_uri"
} >"$dir/fcm_sa.json"
rm -f "$dir/fcm.key"
chmod 600 "$dir/apns.p8" "$dir/fcm_sa.json" "$dir/ca.key" "$dir/server.key"
chmod 644 "$dir/ca.pem" "$dir/server.pem" "$dir/apns_pub.pem"

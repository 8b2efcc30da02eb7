#!/bin/sh
# Builds authflow (release) and shows what it does.
set -eu
cd "$(dirname "$0")/.."
cmake --preset release >/dev/null
cmake --build build -j"${JOBS:-2}"

S=$(head -c 20 /dev/urandom | base32 | tr -d '=')
echo
echo "A fresh TOTP secret and what an authenticator app would show for it:"
./build/bin/tokencode uri --secret "$S" --issuer "authflow demo" --account alice
echo "current code:   $(./build/bin/tokencode totp --secret "$S")"
echo "number to match: $(./build/bin/tokencode match)"

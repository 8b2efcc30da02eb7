#!/bin/sh
# Runs the relying-party end-to-end suite (openid-client on node) against
# the authflow binaries in BIN_DIR with the given store backend.
#
#   rp.sh BIN_DIR memory|redis
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -d "$here/rp/node_modules/openid-client" ]; then
	echo "rp.sh: run 'npm ci --prefix tests/e2e/rp' first (deploy/test.sh does)" >&2
	exit 1
fi
export AUTHFLOW_BIN_DIR=$1
export AF_STORE=$2
cd "$here/rp"
exec node --test --test-reporter=spec oidc.test.mjs mfa.test.mjs pages.test.mjs bclogout.test.mjs

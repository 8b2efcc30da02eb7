#!/bin/sh
# Runs the push delivery end-to-end suite (node, tests/e2e/rp/push.test.mjs)
# against the binaries in BIN_DIR: authflow and pushd on Redis, mock_apns
# and mock_fcm, idsim. Needs AF_TEST_REDIS_URL: run it through
# tests/tools/with-redis.sh.
#
#   push.sh BIN_DIR
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if [ ! -d "$here/rp/node_modules/openid-client" ]; then
	echo "push.sh: run 'npm ci --prefix tests/e2e/rp' first (deploy/test.sh does)" >&2
	exit 1
fi
export AUTHFLOW_BIN_DIR=$1
cd "$here/rp"
exec node --test --test-reporter=spec --test-concurrency=1 push.test.mjs

#!/bin/sh
# Builds authflow (release) and runs the demo: an identity provider on
# http://127.0.0.1:8080 with a demo user, a demo application and a built-in
# relying party at /demo. Stop it with Ctrl-C.
#
#   deploy/demo.sh [--port N] [--state-dir DIR]
set -eu
cd "$(dirname "$0")/.."
cmake --preset release >/dev/null
cmake --build build -j"${JOBS:-2}"
exec ./build/bin/authflow --demo "$@"

#!/bin/sh
# Installs every Debian 12 package that building, running and testing
# authflow need. Safe to run again: apt-get skips what is already there.
set -eu

PACKAGES="
  build-essential cmake pkg-config git ca-certificates
  clang clang-format clang-tidy libclang-rt-14-dev
  libssl-dev libcurl4-openssl-dev libnghttp2-dev libjansson-dev
  libhiredis-dev libmicrohttpd-dev libcmocka-dev libcjose-dev
  libargon2-dev libqrencode-dev libunistring-dev
  redis-server oathtool nghttp2-client curl openssl
"

# Node.js (for the openid-client relying party in the end-to-end tests) may
# already come from another packaging that bundles npm; Debian's npm package
# conflicts with it, so ask for Debian's only when there is no npm at all.
if ! command -v npm >/dev/null 2>&1; then
	PACKAGES="$PACKAGES nodejs npm"
fi

if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
else
	SUDO=
fi

missing=
for p in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done

if [ -n "$missing" ]; then
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -qq --no-install-recommends $missing
fi

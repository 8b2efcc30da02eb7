#!/bin/sh
# Runs CMD with a throwaway redis-server on a free loopback port:
#
#   tests/tools/with-redis.sh CMD [ARG...]
#
# The server lives in a fresh temporary folder, keeps nothing on disk, and
# listens on 127.0.0.1 and on a unix socket in that folder. CMD sees
#   AF_TEST_REDIS_URL=redis://127.0.0.1:PORT
#   AF_TEST_REDIS_AUTH_URL=redis://aftest:PASSWORD@127.0.0.1:PORT, an ACL
#     user whose password holds characters the url must percent-encode
#   AF_TEST_REDIS_SOCKET=/path/to/redis.sock
#   AF_TEST_REQUIRE_REDIS=1
# The server and the folder are removed however CMD ends, and the script
# exits with CMD's status.
set -eu

if [ $# -lt 1 ]; then
	echo "usage: $0 CMD [ARG...]" >&2
	exit 2
fi
for tool in redis-server redis-cli; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "with-redis.sh: $tool not found (install redis-server)" >&2
		exit 1
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/af-redis.XXXXXX")
pid=
# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# Answers when the redis on $1 is the one we started (process id $2), so
# another program that happens to hold the port is never mistaken for it.
ours() {
	redis-cli -h 127.0.0.1 -p "$1" info server 2>/dev/null |
		tr -d '\r' | grep -qx "process_id:$2"
}

# Starts redis on port $1 and waits up to 5 s for it to answer. Fails when
# the port is taken (redis exits at once) or it never answers.
start_on() {
	redis-server --port "$1" --bind 127.0.0.1 --protected-mode yes \
		--unixsocket "$tmp/redis.sock" --unixsocketperm 700 \
		--save '' --appendonly no --daemonize no --dir "$tmp" \
		--logfile "$tmp/redis.log" &
	pid=$!
	tries=0
	while [ "$tries" -lt 50 ]; do
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid" 2>/dev/null || true
			pid=
			return 1
		fi
		if [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ] &&
			ours "$1" "$pid"; then
			return 0
		fi
		sleep 0.1
		tries=$((tries + 1))
	done
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	pid=
	return 1
}

# Try ports from a random start in 20000..59999 until one binds.
start=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
port=$((20000 + start % 40000))
attempt=0
while ! start_on "$port"; do
	attempt=$((attempt + 1))
	if [ "$attempt" -ge 20 ]; then
		echo "with-redis.sh: could not start redis-server" >&2
		tail -20 "$tmp/redis.log" >&2 2>/dev/null || true
		exit 1
	fi
	port=$((20000 + (port - 20000 + 7919) % 40000))
done

# The ACL user, with the rights deploy/redis-authflow.conf gives (no
# dangerous or admin commands but INFO, which tells whether Redis evicts
# keys), so that the tests show they suffice; the default user stays open
# for the tests' own redis-cli.
secret=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
if [ "$(redis-cli -h 127.0.0.1 -p "$port" ACL SETUSER aftest on \
	">$secret+@:/" '~*' '&*' '+@all' '-@dangerous' '-@admin' '+info')" != OK ]; then
	echo "with-redis.sh: could not make the ACL user" >&2
	exit 1
fi

AF_TEST_REDIS_URL="redis://127.0.0.1:$port"
AF_TEST_REDIS_AUTH_URL="redis://aftest:$secret+%40:%2F@127.0.0.1:$port"
AF_TEST_REDIS_SOCKET="$tmp/redis.sock"
AF_TEST_REQUIRE_REDIS=1
export AF_TEST_REDIS_URL AF_TEST_REDIS_AUTH_URL AF_TEST_REDIS_SOCKET \
	AF_TEST_REQUIRE_REDIS

status=0
"$@" || status=$?
exit "$status"

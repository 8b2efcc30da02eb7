#!/bin/sh
# The push delivery benchmark: pushd's throughput to mock_apns over one
# connection and over four, h2load's rate against the same mock with the
# same request as the ceiling, the enqueue-to-mock latency at 1,000
# pushes/s, and the memory per push in flight.
#
#   tests/bench/bench_push.sh BIN_DIR      (a Release build's bin folder)
#
# Starts redis-server and mock_apns on free 127.0.0.1 ports in a temporary
# folder, stops them however it ends, and takes a few minutes at most.
# Needs redis-server, redis-cli and h2load (Debian: nghttp2-client).
# Environment: COUNT (pushes per throughput run, default 20000), RATE
# (default 1000) and SECONDS_RUN (default 5) for the latency run.
#
# Why h2load runs as it does, so that the ratio is fair to both sides:
# - the same request: pushd's path shape, payload (bench_push
#   --print-payload), its eight headers and a provider token from the
#   same key, so that the mock does the same checks for both;
# - the same connections: -c 1 and -c 4, against pushd's 1 and 4 workers
#   (one connection each);
# - streams: -m 100 per connection. pushd keeps up to PUSHD_INFLIGHT_MAX
#   (256) jobs per worker in flight, the mock advertises 1,000, so h2load
#   is held to fewer concurrent streams than pushd uses, never more;
# - h2load runs one thread (its default -t 1) for either -c, while the
#   four pushd workers are four threads; both share the machine's cores
#   with the mock (and pushd with Redis, which h2load does not need:
#   pushd's rate includes its store work, as it must).
#
# Beside h2load it measures curl_ceiling: libcurl multi with nghttp2 (the
# client pushd is built on, as the design asks) making the same request
# over 1 and 4 connections with PUSHD_INFLIGHT_MAX streams each and
# nothing else to do. That is the most any libcurl sender could reach
# here, and pushd's share of it shows the cost of pushd's own work.
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 BIN_DIR" >&2
	exit 2
fi
bin=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
count=${COUNT:-20000}
rate=${RATE:-1000}
seconds=${SECONDS_RUN:-5}
team=ABCDE12345
kid=KEY1234567
topic=com.example.authenticator
for tool in redis-server redis-cli h2load timeout; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "bench_push.sh: $tool not found" >&2
		exit 1
	fi
done
for prog in mock_apns bench_push curl_ceiling; do
	if [ ! -x "$bin/$prog" ]; then
		echo "bench_push.sh: $bin/$prog not built" >&2
		exit 1
	fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/af-bench-push.XXXXXX")
redis_pid=
mock_pid=
# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
	for p in $mock_pid $redis_pid; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# ---- redis on a free loopback port (as tests/tools/with-redis.sh) ----
start=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
port=$((20000 + start % 40000))
attempt=0
while :; do
	redis-server --port "$port" --bind 127.0.0.1 --protected-mode yes \
		--save '' --appendonly no --daemonize no --dir "$tmp" \
		--logfile "$tmp/redis.log" &
	redis_pid=$!
	tries=0
	while [ "$tries" -lt 50 ] && kill -0 "$redis_pid" 2>/dev/null; do
		if redis-cli -h 127.0.0.1 -p "$port" info server 2>/dev/null |
			tr -d '\r' | grep -qx "process_id:$redis_pid"; then
			break 2
		fi
		sleep 0.1
		tries=$((tries + 1))
	done
	kill "$redis_pid" 2>/dev/null || true
	wait "$redis_pid" 2>/dev/null || true
	redis_pid=
	attempt=$((attempt + 1))
	if [ "$attempt" -ge 20 ]; then
		echo "bench_push.sh: could not start redis-server" >&2
		exit 1
	fi
	port=$((20000 + (port - 20000 + 7919) % 40000))
done
redis_url="redis://127.0.0.1:$port"

# ---- certificates, the mock ----
"$here/../mock/gen_certs.sh" "$tmp/k"
"$bin/mock_apns" --cert "$tmp/k/server.pem" --key "$tmp/k/server.key" \
	--port 0 --port-file "$tmp/apns.port" --team-id "$team" \
	--key-id "$kid" --p8-pub "$tmp/k/apns_pub.pem" --topic "$topic" \
	--max-streams 1000 --log "$tmp/apns.log" &
mock_pid=$!
tries=0
while [ ! -s "$tmp/apns.port" ]; do
	tries=$((tries + 1))
	if [ "$tries" -gt 100 ] || ! kill -0 "$mock_pid" 2>/dev/null; then
		echo "bench_push.sh: mock_apns did not start" >&2
		exit 1
	fi
	sleep 0.05
done
mock_port=$(cat "$tmp/apns.port")
endpoint="https://127.0.0.1:$mock_port"

# ---- the ceiling: h2load with pushd's request ----
jwt=$("$bin/bench_push" --print-jwt --p8 "$tmp/k/apns.p8" --team "$team" \
	--kid "$kid")
"$bin/bench_push" --print-payload >"$tmp/payload.json"
token=$(printf '%064d' 0 | tr 0 a)
expires=$(($(date +%s) + 30))
echo "machine: $(nproc) cores; $(uname -sr); $(h2load --version | head -1)"
echo "request: POST /3/device/<64 hex>, $(wc -c <"$tmp/payload.json") byte payload, 8 headers, ES256 provider token"

# h2load RUN CLIENTS: prints the request rate of the run.
h2rate() {
	timeout 120 h2load -n "$count" -c "$1" -m 100 -d "$tmp/payload.json" \
		-H "authorization: bearer $jwt" -H "apns-topic: $topic" \
		-H "apns-push-type: alert" -H "apns-priority: 10" \
		-H "apns-expiration: $expires" \
		-H "apns-collapse-id: Zm9vYmFyYmF6cXV4cXV1eDEyMzQ1Njc4" \
		-H "apns-id: 123e4567-e89b-42d3-a456-426614174000" \
		-H "content-type: application/json" \
		"$endpoint/3/device/$token" >"$tmp/h2load.$1" 2>&1 || true
	grep -E '^(finished in|requests:|status codes:)' "$tmp/h2load.$1" |
		sed "s/^/h2load -c $1 -m 100: /" >&2
	sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' "$tmp/h2load.$1"
}
h1=$(h2rate 1)
h4=$(h2rate 4)
ok1=$(grep -c '"token":"'"$token"'"' "$tmp/apns.log" || true)
echo "mock accepted $ok1 of $((2 * count)) h2load pushes"

# libcurl alone: the same request, handles reused, nothing else done.
curlrate() {
	timeout 120 "$bin/curl_ceiling" --endpoint "$endpoint" \
		--ca "$tmp/k/ca.pem" --jwt "$jwt" --topic "$topic" \
		--payload "$tmp/payload.json" --connections "$1" \
		--streams 256 --count "$count" >"$tmp/curl.$1" 2>&1 || true
	sed -n 's/^RESULT .* rate=\([0-9.]*\).*/\1/p' "$tmp/curl.$1"
}
ceiling() { # ceiling N: libcurl's rate over N connections, and its line
	rate_c=$(curlrate "$1")
	if [ -z "$rate_c" ]; then
		echo "curl_ceiling over $1 connection(s) failed:" >&2
		cat "$tmp/curl.$1" >&2
		exit 1
	fi
	echo "libcurl alone $1 connection(s): $rate_c req/s = $(awk -v c="$rate_c" -v h="$2" 'BEGIN { printf "%.1f", (h > 0 ? 100 * c / h : 0) }')% of h2load" >&2
	echo "$rate_c"
}
c1=$(ceiling 1 "${h1:-0}")
c4=$(ceiling 4 "${h4:-0}")

# ---- pushd: throughput (1 and 4 connections), memory, latency ----
timeout 420 "$bin/bench_push" --redis "$redis_url" --endpoint "$endpoint" \
	--ca "$tmp/k/ca.pem" --p8 "$tmp/k/apns.p8" --team "$team" \
	--kid "$kid" --topic "$topic" --mock-log "$tmp/apns.log" \
	--count "$count" --rate "$rate" --seconds "$seconds" \
	--h2load-1 "${h1:-0}" --h2load-4 "${h4:-0}" \
	--curl-1 "$c1" --curl-4 "$c4"

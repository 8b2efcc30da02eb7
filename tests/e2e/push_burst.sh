#!/bin/sh
# Push delivery under load: bench_push runs pushd's workers in-process on
# Redis against mock_apns, COUNT pushes over one connection, then over
# four, then paced. Over one connection that crosses the server's
# stream-reset limit twice (libcurl 7.88 resets every stream it has
# finished; nghttp2 servers answer about 1,000 resets with GOAWAY), so the
# connection is renewed while hundreds of streams are in flight. pushd
# must send every push, with no outcome but "sent", and each must reach
# the mock as one notification. A retry is allowed for 1 push in 100: on
# a loaded machine a stream can fail at the moment its connection is
# renewed, and pushd then sends it again with the same apns-id; the
# test prints why each retried push was retried (pushd's log at info).
#
#   push_burst.sh BIN_DIR GEN_CERTS_SH
#
# Needs AF_TEST_REDIS_URL: run it through tests/tools/with-redis.sh.
set -eu

if [ $# -ne 2 ] || [ -z "${AF_TEST_REDIS_URL:-}" ]; then
	echo "usage: with-redis.sh $0 BIN_DIR GEN_CERTS_SH" >&2
	exit 2
fi
bin=$1
count=2500
rate=200
team=ABCDE12345
kid=KEY1234567
topic=com.example.authenticator
tmp=$(mktemp -d)
mock_pid=
# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
	if [ -n "$mock_pid" ]; then
		kill "$mock_pid" 2>/dev/null || true
		wait "$mock_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

"$2" "$tmp/k" >/dev/null
"$bin/mock_apns" --cert "$tmp/k/server.pem" --key "$tmp/k/server.key" \
	--port 0 --port-file "$tmp/apns.port" --team-id "$team" \
	--key-id "$kid" --p8-pub "$tmp/k/apns_pub.pem" --topic "$topic" \
	--max-streams 1000 --log "$tmp/apns.log" 2>"$tmp/apns.err" &
mock_pid=$!
i=0
until [ -s "$tmp/apns.port" ]; do
	i=$((i + 1))
	if [ "$i" -gt 200 ] || ! kill -0 "$mock_pid" 2>/dev/null; then
		echo "push_burst.sh: mock_apns did not start" >&2
		cat "$tmp/apns.err" >&2
		exit 1
	fi
	sleep 0.05
done

"$bin/bench_push" --redis "$AF_TEST_REDIS_URL" \
	--endpoint "https://127.0.0.1:$(cat "$tmp/apns.port")" \
	--ca "$tmp/k/ca.pem" --p8 "$tmp/k/apns.p8" --team "$team" \
	--kid "$kid" --topic "$topic" --mock-log "$tmp/apns.log" \
	--count "$count" --rate "$rate" --seconds 1 --verbose \
	>"$tmp/out" 2>"$tmp/err" || {
	echo "push_burst.sh: bench_push failed" >&2
	cat "$tmp/out" "$tmp/err" >&2
	exit 1
}

fail=0
check() {
	if grep -q "$2" "$tmp/out"; then
		echo "ok: $1"
	else
		echo "FAIL: $1" >&2
		fail=1
	fi
}
retries_max=$((count / 100))
for run in "1 connection " "4 connections"; do
	check "$run: every push delivered, each with the outcome sent" \
		"^pushd $run *pushes=$count acked_by_mock=$count sent=$count other_outcomes=0 retries="
	retries=$(sed -n "s/^pushd $run .* retries=\([0-9]*\) .*/\1/p" "$tmp/out")
	if [ -n "$retries" ] && [ "$retries" -le "$retries_max" ]; then
		echo "ok: $run: $retries retried (at most $retries_max)"
	else
		echo "FAIL: $run: ${retries:-?} retried, more than $retries_max" >&2
		fail=1
	fi
done
# Why any push was retried, from pushd's log.
grep -E '"event":"apns_answer"|transfer: |attempts=([2-9]|[1-9][0-9])|retried' \
	"$tmp/err" | sed 's/^/  pushd: /' | head -n 20 || true
check "paced pushes all seen" "^latency at $rate/s for 1 s .*p99=[0-9.]* ms max=[0-9.]* ms$"
# Every push reached the mock, as one notification. A push can reach it
# twice at HTTP level: a stream the server answered just after it queued
# its GOAWAY lies past the GOAWAY's last stream id, so libcurl sends it
# again on the new connection. The repeat carries the same apns-id and
# collapse id, and the phone shows it once (Apple's collapse rule).
# Lines: {"token":...,"apns_id":...,"collapse_id":...} per accepted push,
# plus one per new provider token (no "token"), which are skipped.
want=$((2 * count + rate + 20))
pushes=$(grep '"token":' "$tmp/apns.log" |
	sed -n 's/.*"apns_id":"\([^"]*\)","topic":"[^"]*","collapse_id":"\([^"]*\)".*/\2 \1/p' |
	sort -u)
txns=$(printf '%s\n' "$pushes" | cut -d' ' -f1 | sort -u | wc -l)
ids=$(printf '%s\n' "$pushes" | wc -l)
if [ "$txns" -eq "$want" ] && [ "$ids" -eq "$want" ]; then
	echo "ok: the mock accepted all $want pushes, each as one notification"
else
	echo "FAIL: the mock accepted $txns distinct pushes under $ids apns-ids, want $want of each" >&2
	fail=1
fi
if [ "$fail" -ne 0 ]; then
	cat "$tmp/out" "$tmp/err" >&2
	exit 1
fi

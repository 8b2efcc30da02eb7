#!/bin/bash
# The MFA sign-in benchmark: password-only sign-ins, then complete push-MFA
# sign-ins (password, the challenge fetched and approved with the page's
# number over the signed device API, code, token, userinfo), on one
# authflow server with the same load generator and the same concurrency,
# and the goals of the issue: MFA sign-ins/s at least 0.60 x password-only
# sign-ins/s at the same hash cost in the same run, and p99 of "password
# sent -> challenge seen by the device" under 20 ms.
#
#   tests/bench/bench_mfa.sh BIN_DIR
#
# Runs:
#   4. the declared low Argon2id benchmark cost (m=64 KiB, t=1, p=1),
#      BENCH_CONCURRENCY clients: password-only and MFA sign-ins, each as
#      fast as the clients go (closed loop: the server saturated), in
#      BENCH_ROUNDS alternating rounds so that both kinds meet the host in
#      the same state (each kind's rounds are merged: counts and seconds
#      added up, percentiles over every sample); then
#      MFA sign-ins in an open loop at half the MFA rate just measured, for
#      the latency at a known load below saturation (at saturation every
#      latency is mostly the queue the clients themselves build);
#   5. the production Argon2id cost (m=19456 KiB, t=2, p=1), the cost a
#      deployment runs, BENCH_PROD_CONCURRENCY clients: password-only and
#      MFA sign-ins, closed loop, in alternating rounds as in 4.
# The ratio goal is judged at both costs, the latency goal at saturation
# and at the fixed load, each on its own line. First it measures ES256
# signatures and verifications per second (bench_limits --only es256),
# and the summary says how much CPU the device API's crypto takes per MFA
# sign-in: work a password-only sign-in does not have.
#
# BIN_DIR holds authflow, bench_loadgen, bench_limits and idsim from a
# Release build without sanitizers (see bench_oidc.sh, whose settings and
# helpers this script shares). Every client signs in as its own users
# (BENCH_MFA_USERS_PER_CLIENT of them, by default enough for 192 users in
# all, taken in turn) so that
# no two clients share a user; the MFA users each have one phone enrolled
# with idsim (platform none: no push is queued, the load generator's phone
# asks for its challenges), and the workflow's push limit is set to its
# highest, 100 per 10 s per user. Settings (environment): BENCH_CONCURRENCY
# (16), BENCH_SECONDS (15, over all rounds), BENCH_ROUNDS (5),
# BENCH_PROD_CONCURRENCY (16), BENCH_PROD_SECONDS (20), BENCH_THREADS (0),
# BENCH_MFA_USERS_PER_CLIENT (192 users in all).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench_oidc.sh source-path=SCRIPTDIR
source "$here/bench_oidc.sh" "$@"
if [ ! -x "$bin/idsim" ]; then
	echo "usage: bench_mfa.sh BIN_DIR (with authflow, bench_loadgen, bench_limits, idsim)" >&2
	exit 2
fi
# Sixteen clients already keep both cores busy (the same sign-ins/s as
# 64); more only lengthen the queue they wait in.
conc=${BENCH_CONCURRENCY:-16}
per_client=${BENCH_MFA_USERS_PER_CLIENT:-$(((192 + conc - 1) / conc))}
nusers=$((conc * per_client))

lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 < b + 0) }'; }

# The users of both runs: pw-N in a group whose policy has no remote
# access, mfa-N in one whose policy needs MFA, each with an enrolled phone.
# Writes the load generator's lists $work/users.json and $work/devices.json.
seed_mfa() {
	local out=$work/admin.json i code states=$work/phones
	admin POST /groups '{"name":"bench-pw"}' 201 "$out"
	admin POST /groups '{"name":"bench-mfa"}' 201 "$out"
	admin POST /policies/bench-sso/assign '{"group":"bench-pw"}' 200 "$out"
	admin POST /policies '{"name":"bench-mfa","sso":true,"remote_access":true}' 201 "$out"
	admin POST /policies/bench-mfa/assign '{"group":"bench-mfa"}' 200 "$out"
	admin PATCH /workflow '{"number_matching":true,"push_limit":{"count":100,"period_s":10}}' 200 "$out"
	mkdir -m 700 "$states"
	for i in $(seq 1 "$nusers"); do
		admin POST /users "{\"username\":\"pw-$i\",\"email\":\"pw-$i@example.com\",\"email_verified\":true,\"password\":\"$password\",\"groups\":[\"bench-pw\"]}" 201 "$out"
		admin POST /users "{\"username\":\"mfa-$i\",\"email\":\"mfa-$i@example.com\",\"email_verified\":true,\"password\":\"$password\",\"groups\":[\"bench-mfa\"]}" 201 "$out"
		admin POST "/users/mfa-$i/enroll-code" '{}' 201 "$out"
		code=$(sed -n 's/.*"code"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$out")
		"$bin/idsim" --url "$af_url" --state "$states/mfa-$i.json" \
			enroll "$code" --platform none --name "bench phone $i" >/dev/null
	done
	# The ${...} below are JavaScript's, not the shell's.
	# shellcheck disable=SC2016
	(umask 077 && BENCH_PASSWORD=$password node -e '
const fs = require("fs");
const [dir, n, usersOut, devicesOut] = process.argv.slice(1);
const password = process.env.BENCH_PASSWORD;
const users = [], devices = [];
for (let i = 1; i <= Number(n); i++) {
	const s = JSON.parse(fs.readFileSync(`${dir}/mfa-${i}.json`, "utf8"));
	if (typeof s.private_key !== "object")
		throw new Error(`${dir}/mfa-${i}.json: the key is not a JWK`);
	users.push({user: `pw-${i}`, password});
	devices.push({user: `mfa-${i}`, password, device_id: s.device_id,
		private_key: s.private_key});
}
fs.writeFileSync(usersOut, JSON.stringify(users));
fs.writeFileSync(devicesOut, JSON.stringify(devices));
' "$states" "$nusers" "$work/users.json" "$work/devices.json")
}

# interleaved CONCURRENCY SECONDS WARMUP: password-only and MFA sign-ins
# in $rounds alternating rounds of SECONDS / $rounds each (WARMUP flows
# of each round not counted), so that both kinds see the host in the
# same state (its speed drifts by tens of percent within a minute), then
# each kind's rounds merged: their RESULT lines in $r_pw and $r_mfa, the
# most CPU other processes took during any round in $o_pw and $o_mfa.
interleaved() {
	local iconc=$1 isecs=$2 iwarm=$3
	local r kind rr slice
	local -a args
	slice=$(awk -v s="$isecs" -v r="$rounds" 'BEGIN { printf "%.3f", s / r }')
	# shellcheck disable=SC2034 # keep_round adds to them
	o_pw=0 ticks_pw=0 wall_pw=0 o_mfa=0 ticks_mfa=0 wall_mfa=0
	rm -f "$work"/samples.* "$work"/results.*
	for r in $(seq 1 "$rounds"); do
		for kind in pw mfa; do
			if [ "$kind" = pw ]; then
				args=(--label password-only --users "$work/users.json")
			else
				args=(--label mfa --mfa --devices "$work/devices.json")
			fi
			loadgen --url "$af_url" --concurrency "$iconc" \
				--seconds "$slice" --warmup "$iwarm" \
				--samples "$work/samples.$kind.$r" "${args[@]}" \
				>"$work/round.out"
			keep_round "$kind"
			printf '  round %s of %s, %-13s %8s sign-ins/s\n' "$r" \
				"$rounds" "$kind:" "$(result "$res" rate)"
		done
	done
	r_pw=$(merged pw password-only flow "$iconc")
	r_mfa=$(merged mfa mfa mfa "$iconc")
	for kind in pw mfa; do
		rr=$r_pw
		[ "$kind" = pw ] || rr=$r_mfa
		merged_line "$rr" sign-ins "; $(result "$rr" requests_per_flow) HTTP requests and $(round_srv_ms "$kind" "$(result "$rr" rate)") ms of server CPU per sign-in"
	done
}

echo "== authflow MFA sign-in benchmark: $cores cores, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "-- run 4: authflow, declared low benchmark cost (m=64 KiB, t=1, p=1), $conc clients, ${secs}s each, $per_client users per client"
quietly limits --seconds 2 --only es256
es_sign=$(result "$res" es256_sign_per_s)
es_verify=$(result "$res" es256_verify_per_s)
es_threads=$(result "$res" threads)
start_authflow 64 1 1
seed
t_seed=$(date +%s)
seed_mfa
echo "  seeded $nusers password-only users and $nusers MFA users with a phone each in $(($(date +%s) - t_seed)) s"
interleaved "$conc" "$secs" 200
r_pw_low=$r_pw r_mfa_low=$r_mfa o_pw_low=$o_pw o_mfa_low=$o_mfa
offered=$(awk -v r="$(result "$r_mfa" rate)" 'BEGIN { printf "%.0f", r / 2 }')
echo "-- run 4b: MFA sign-ins in an open loop at $offered per second (half the rate above), ${secs}s"
quietly loadgen --url "$af_url" --label mfa-fixed-load --concurrency "$conc" \
	--seconds "$secs" --warmup 200 --mfa --devices "$work/devices.json" \
	--rate "$offered"
r_fix="$res"
o_fix=$others
stop_server "$srv_pid"

echo "-- run 5: authflow, production Argon2id cost (m=19456 KiB, t=2, p=1), $prod_conc clients, ${prod_secs}s each, in the same alternating rounds"
start_authflow 19456 2 1
seed
t_seed=$(date +%s)
rm -rf "$work/phones"
seed_mfa
echo "  seeded $nusers password-only users and $nusers MFA users with a phone each in $(($(date +%s) - t_seed)) s"
interleaved "$prod_conc" "$prod_secs" "$prod_conc"
r_pw_p=$r_pw r_mfa_p=$r_mfa o_pw_p=$o_pw o_mfa_p=$o_mfa
r_pw=$r_pw_low r_mfa=$r_mfa_low o_pw=$o_pw_low o_mfa=$o_mfa_low
stop_server "$srv_pid"

share=$(ratio "$(result "$r_mfa" rate)" "$(result "$r_pw" rate)")
share_p=$(ratio "$(result "$r_mfa_p" rate)" "$(result "$r_pw_p" rate)")
vis_p99=$(result "$r_mfa" vis_p99_ms)
fix_p99=$(result "$r_fix" vis_p99_ms)
below() { if lt "$1" "$2"; then echo "met"; else echo "NOT met"; fi; }
line() { # line LABEL RESULT-LINE
	printf '%-40s %8s sign-ins/s, p50 %s ms, p99 %s ms, errors %s\n' "$1" \
		"$(result "$2" rate)" "$(result "$2" p50_ms)" \
		"$(result "$2" p99_ms)" "$(result "$2" errors)"
}
seen() { # seen LABEL RESULT-LINE
	printf '%-40s p50 %s ms, p99 %s ms, max %s ms (%s challenge list requests per sign-in)\n' \
		"$1" "$(result "$2" vis_p50_ms)" "$(result "$2" vis_p99_ms)" \
		"$(result "$2" vis_max_ms)" "$(result "$2" polls_per_flow)"
}

echo
echo "== MFA summary ($cores cores, load generator on the same machine)"
line "low cost, $conc clients: password only" "$r_pw"
line "low cost, $conc clients: MFA" "$r_mfa"
line "low cost: MFA at a fixed $offered/s" "$r_fix"
line "production cost, $prod_conc clients: password" "$r_pw_p"
line "production cost, $prod_conc clients: MFA" "$r_mfa_p"
# CPU seconds of one operation: the threads that ran it over its rate.
es_ms=$(awk -v s="$es_sign" -v v="$es_verify" -v n="$es_threads" \
	'BEGIN { printf "%.3f", (s > 0 && v > 0 ? 2000 * n / v + 2000 * n / s : 0) }')
echo "device API crypto per MFA sign-in: 2 ES256 verifications (server) + 2 signatures (phone) = $es_ms ms of CPU ($es_verify verifications/s and $es_sign signatures/s on $es_threads threads)"
echo "HTTP requests per sign-in (browser and phone): password-only $(result "$r_pw" requests_per_flow), MFA $(result "$r_mfa" requests_per_flow)"
echo "password sent -> challenge seen by the device:"
seen "  low cost, saturated ($conc clients)" "$r_mfa"
seen "  low cost, fixed load ($offered/s)" "$r_fix"
seen "  production cost ($prod_conc clients)" "$r_mfa_p"
echo
echo "goals:"
printf '  %-66s %10s -> %s\n' \
	"MFA >= 0.60 x password-only sign-ins/s, production cost" "${share_p}x" \
	"$(verdict "$share_p" 0.60)$(quiet "$o_pw_p" "$o_mfa_p")" \
	"MFA >= 0.60 x password-only sign-ins/s, low cost" "${share}x" \
	"$(verdict "$share" 0.60)$(quiet "$o_pw" "$o_mfa")" \
	"p99 password sent -> challenge seen < 20 ms, fixed load $offered/s" "${fix_p99}ms" \
	"$(below "$fix_p99" 20)$(quiet "$o_fix")" \
	"p99 password sent -> challenge seen < 20 ms, saturated" "${vis_p99}ms" \
	"$(below "$vis_p99" 20)$(quiet "$o_mfa")"

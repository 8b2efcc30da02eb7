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
#      fast as the clients go (closed loop: the server saturated); then
#      MFA sign-ins in an open loop at half the MFA rate just measured, for
#      the latency at a known load below saturation (at saturation every
#      latency is mostly the queue the clients themselves build);
#   5. the production Argon2id cost (m=19456 KiB, t=2, p=1), the cost a
#      deployment runs, BENCH_PROD_CONCURRENCY clients: password-only and
#      MFA sign-ins, closed loop.
# The ratio goal is judged at both costs, the latency goal at saturation
# and at the fixed load, each on its own line.
#
# BIN_DIR holds authflow, bench_loadgen, bench_limits and idsim from a
# Release build without sanitizers (see bench_oidc.sh, whose settings and
# helpers this script shares). Every client signs in as its own users
# (BENCH_MFA_USERS_PER_CLIENT of them, default 3, taken in turn) so that
# no two clients share a user; the MFA users each have one phone enrolled
# with idsim (platform none: no push is queued, the load generator's phone
# asks for its challenges), and the workflow's push limit is set to its
# highest, 100 per 10 s per user. Settings (environment): BENCH_CONCURRENCY
# (64), BENCH_SECONDS (15), BENCH_PROD_CONCURRENCY (16), BENCH_PROD_SECONDS
# (20), BENCH_THREADS (0), BENCH_MFA_USERS_PER_CLIENT (3).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench_oidc.sh source-path=SCRIPTDIR
source "$here/bench_oidc.sh" "$@"
if [ ! -x "$bin/idsim" ]; then
	echo "usage: bench_mfa.sh BIN_DIR (with authflow, bench_loadgen, bench_limits, idsim)" >&2
	exit 2
fi
per_client=${BENCH_MFA_USERS_PER_CLIENT:-3}
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

echo "== authflow MFA sign-in benchmark: $cores cores, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "-- run 4: authflow, declared low benchmark cost (m=64 KiB, t=1, p=1), $conc clients, ${secs}s each, $per_client users per client"
start_authflow 64 1 1
seed
t_seed=$(date +%s)
seed_mfa
echo "  seeded $nusers password-only users and $nusers MFA users with a phone each in $(($(date +%s) - t_seed)) s"
quietly loadgen --url "$af_url" --label password-only --concurrency "$conc" \
	--seconds "$secs" --warmup 500 --users "$work/users.json"
r_pw="$res"
o_pw=$others
quietly loadgen --url "$af_url" --label mfa --concurrency "$conc" \
	--seconds "$secs" --warmup 500 --mfa --devices "$work/devices.json"
r_mfa="$res"
o_mfa=$others
offered=$(awk -v r="$(result "$r_mfa" rate)" 'BEGIN { printf "%.0f", r / 2 }')
echo "-- run 4b: MFA sign-ins in an open loop at $offered per second (half the rate above), ${secs}s"
quietly loadgen --url "$af_url" --label mfa-fixed-load --concurrency "$conc" \
	--seconds "$secs" --warmup 200 --mfa --devices "$work/devices.json" \
	--rate "$offered"
r_fix="$res"
o_fix=$others
stop_server "$srv_pid"

echo "-- run 5: authflow, production Argon2id cost (m=19456 KiB, t=2, p=1), $prod_conc clients, ${prod_secs}s each"
start_authflow 19456 2 1
seed
t_seed=$(date +%s)
rm -rf "$work/phones"
seed_mfa
echo "  seeded $nusers password-only users and $nusers MFA users with a phone each in $(($(date +%s) - t_seed)) s"
quietly loadgen --url "$af_url" --label password-only-prod --concurrency "$prod_conc" \
	--seconds "$prod_secs" --warmup "$prod_conc" --users "$work/users.json"
r_pw_p="$res"
o_pw_p=$others
quietly loadgen --url "$af_url" --label mfa-prod --concurrency "$prod_conc" \
	--seconds "$prod_secs" --warmup "$prod_conc" --mfa --devices "$work/devices.json"
r_mfa_p="$res"
o_mfa_p=$others
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

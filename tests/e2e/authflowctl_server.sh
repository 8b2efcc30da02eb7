#!/bin/sh
# authflowctl against a real authflow (demo mode on a free loopback port):
# the command forms that administrators and outside tests use, their
# output, and their exit statuses.
#
#   authflowctl_server.sh BIN_DIR
set -u

BIN=$1
tmp=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
"$BIN/authflow" --demo --port "$port" --state-dir "$tmp/state" >"$tmp/demo.out" 2>"$tmp/demo.err" &
pid=$!
i=0
until [ -f "$tmp/state/demo.json" ] && curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; do
	i=$((i + 1))
	if [ "$i" -gt 200 ] || ! kill -0 "$pid" 2>/dev/null; then
		echo "authflow did not start:" >&2
		cat "$tmp/demo.err" >&2
		exit 1
	fi
	sleep 0.05
done

AUTHFLOW_URL="http://127.0.0.1:$port"
AUTHFLOW_ADMIN_TOKEN=$(sed -n 's/.*"admin_token": "\([^"]*\)".*/\1/p' "$tmp/state/demo.json")
export AUTHFLOW_URL AUTHFLOW_ADMIN_TOKEN
C="$BIN/authflowctl"
pass=0
fail=0

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL $*" >&2; }

# expect NAME STATUS CMD...: runs CMD, checks its exit status.
expect() {
	name=$1 want=$2
	shift 2
	"$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ "$rc" -eq "$want" ]; then ok; else
		bad "$name: status $rc, want $want"
		cat "$tmp/out" "$tmp/err" >&2
	fi
}

expect status 0 "$C" status
grep -q "issuer" "$tmp/out" && ok || bad "status shows the issuer"

expect group-add 0 "$C" group add staff --description "All staff"
expect ou-add 0 "$C" ou add Finance
printf 'bobs-password-1\n' >"$tmp/pw"
expect user-add 0 sh -c "\"$C\" user add bob --name 'Bob Builder' --email bob@example.com --group staff --ou Finance --password-stdin <\"$tmp/pw\""
expect user-add-dup 1 sh -c "\"$C\" user add bob --password-stdin <\"$tmp/pw\""
[ "$(wc -l <"$tmp/err")" -eq 1 ] && ok || bad "refusal is one line on stderr"
expect user-list 0 "$C" user list
grep -q "^USERNAME" "$tmp/out" && grep -q "^bob " "$tmp/out" && ok || bad "user list table"
expect user-show-json 0 "$C" --json user show bob
grep -q '"username": "bob"' "$tmp/out" && ok || bad "user show --json"
expect user-show-missing 1 "$C" user show nobody

expect policy-add 0 "$C" policy add staff-sso --sso on --remote-access off
expect policy-assign 0 "$C" policy assign staff-sso --group staff
expect policy-bad 2 "$C" policy add x --sso maybe --remote-access off

expect app-add 0 "$C" --json app add --name crm --display-name "CRM" \
	--redirect-uri https://crm.example.com/login/callback \
	--post-logout-uri https://crm.example.com/
for k in client_id client_secret metadata_url; do
	grep -q "\"$k\"" "$tmp/out" && ok || bad "app add --json has $k"
done
cid=$(sed -n 's/.*"client_id": "\([^"]*\)".*/\1/p' "$tmp/out" | head -1)
expect app-add-human 0 "$C" app add --name crm2 --redirect-uri https://crm2.example.com/cb
[ "$(grep -c '^client_id: \|^client_secret: \|^metadata_url: ' "$tmp/out")" -eq 3 ] && ok || bad "app add prints three lines"
expect app-bad-uri 1 "$C" app add --name evil --redirect-uri "javascript:alert(1)"
expect app-deploy 0 "$C" app deploy "$cid" --group staff
expect app-list 0 "$C" app list
grep -q "$cid" "$tmp/out" && ok || bad "app list shows the new app"
expect app-rotate 0 "$C" app rotate-secret "$cid"

expect keys-status 0 "$C" keys status
expect keys-rotate 0 "$C" keys rotate
n=$(curl -fs "$AUTHFLOW_URL/jwks" | grep -o '"kid"' | wc -l)
[ "$n" -ge 2 ] && ok || bad "jwks keeps the old key after rotation ($n kids)"

expect sessions 0 "$C" sessions list alice
expect unlock 0 "$C" user unlock bob
expect audit 0 "$C" audit --limit 5
grep -q "demo-admin" "$tmp/out" && ok || bad "audit names the actor"

expect bad-token 1 env AUTHFLOW_ADMIN_TOKEN=wrong "$C" status
expect no-server 3 env AUTHFLOW_URL=http://127.0.0.1:1 "$C" status
expect user-remove 0 "$C" user remove bob

# The demo as a newcomer uses it: sign in at /demo and see the claims.
cj="$tmp/cookies"
loc=$(curl -s -c "$cj" -b "$cj" -o /dev/null -w '%{redirect_url}' "$AUTHFLOW_URL/demo/login")
loc=$(curl -s -c "$cj" -b "$cj" -o /dev/null -w '%{redirect_url}' "$loc")
page=$(curl -s -c "$cj" -b "$cj" "$loc")
flow=$(echo "$page" | sed -n 's/.*name="flow" value="\([^"]*\)".*/\1/p')
csrf=$(echo "$page" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p')
cb=$(curl -s -c "$cj" -b "$cj" -o /dev/null -w '%{redirect_url}' \
	--data-urlencode "flow=$flow" --data-urlencode "csrf=$csrf" \
	--data-urlencode username=alice --data-urlencode password=alice-demo-pass \
	"$AUTHFLOW_URL/login")
curl -s -c "$cj" -b "$cj" "$cb" | grep -q "verified your id_token" && ok || bad "demo sign-in shows verified claims"

# SIGTERM stops it gracefully with status 0.
kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
[ "$rc" -eq 0 ] && ok || bad "graceful stop exit status $rc"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

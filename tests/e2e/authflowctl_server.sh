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
# The embedded push workers' metrics are there from the first answer on.
curl -fs "http://127.0.0.1:$port/metrics" | grep -q '^pushd_workers_alive ' && ok0=1 || ok0=0
AUTHFLOW_ADMIN_TOKEN=$(sed -n 's/.*"admin_token": "\([^"]*\)".*/\1/p' "$tmp/state/demo.json")
export AUTHFLOW_URL AUTHFLOW_ADMIN_TOKEN
C="$BIN/authflowctl"
pass=0
fail=0

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL $*" >&2; }
[ "$ok0" = 1 ] && ok || bad "authflow's first /metrics has the push workers' metrics"

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

# A second demo on the port in use: refused in one line, before its
# state folder is made; a folder that cannot be made is said so.
expect demo-port-in-use 1 "$BIN/authflow" --demo --port "$port" --state-dir "$tmp/second"
[ ! -e "$tmp/second" ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q 'Address already in use' "$tmp/err" &&
	ok || bad "a demo on a port in use leaves no folder: $(cat "$tmp/err")"
free=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
expect demo-dir-bad 1 "$BIN/authflow" --demo --port "$free" --state-dir "$tmp/none/deeper"
[ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q -e '--state-dir: cannot make .*/none/deeper: ' "$tmp/err" &&
	ok || bad "demo state dir: $(cat "$tmp/err")"
expect status 0 "$C" status
# Plain http to this host never goes through a proxy (it would read the
# token): one that does not answer changes nothing.
expect status-proxy-unused 0 env http_proxy=http://127.0.0.1:1 all_proxy=http://127.0.0.1:1 "$C" status
grep -q "issuer" "$tmp/out" && ok || bad "status shows the issuer"

expect group-add 0 "$C" group add staff --description "All staff"
expect group-set 0 "$C" group set staff --description "Everyone on the payroll"
grep -q '^description: Everyone on the payroll$' "$tmp/out" && ok || bad "group set shows the new description"
expect group-set-nothing 2 "$C" group set staff
expect group-set-missing 4 "$C" group set nogroup --description x
expect ou-add 0 "$C" ou add Finance
# A password shorter than passwords.min_length (8): refused, said so.
printf 'bob1234\n' >"$tmp/pw"
expect user-add-short 1 sh -c "\"$C\" user add bob --password-stdin <\"$tmp/pw\""
grep -q 'password: must be at least 8 characters' "$tmp/err" && ok || bad "a short password is refused as such"
printf 'bobs-password-1\n' >"$tmp/pw"
expect user-add 0 sh -c "\"$C\" user add bob --name 'Bob Builder' --email bob@example.com --group staff --ou Finance --password-stdin <\"$tmp/pw\""
expect user-add-dup 5 sh -c "\"$C\" user add bob --password-stdin <\"$tmp/pw\""
# Every audit event is a log line too, whatever the level (the demo logs
# warnings only), for a collector that keeps more than the trail does.
grep '"level":"audit"' "$tmp/demo.err" | grep '"action":"user.add"' | grep '"target":"bob"' |
	grep -q '"stored":"true"' && ok || bad "audit event in the log"
[ "$(wc -l <"$tmp/err")" -eq 1 ] && ok || bad "refusal is one line on stderr"
expect user-list 0 "$C" user list
grep -q "^USERNAME" "$tmp/out" && grep -q "^bob " "$tmp/out" && ok || bad "user list table"
grep -q "^USERNAME .* POLICY  *LAST-SIGN-IN$" "$tmp/out" && ok || bad "user list shows each user's policy"
expect user-show-json 0 "$C" --json user show bob
grep -q '"username": "bob"' "$tmp/out" && ok || bad "user show --json"
expect user-show-missing 4 "$C" user show nobody

expect policy-add 0 "$C" policy add staff-sso --sso on --remote-access off
expect policy-assign 0 "$C" policy assign staff-sso --group staff
# user show names the policy that decides the user's sign-in.
expect user-show-policy 0 "$C" user show bob
grep -q '^policy: staff-sso$' "$tmp/out" && ok || bad "user show names bob's policy: $(grep policy "$tmp/out")"
expect policy-assign-user 0 "$C" policy add bob-own --sso off --remote-access on
expect policy-assign-user 0 "$C" policy assign bob-own --user bob
expect user-show-policy-own 0 "$C" user show bob
grep -q '^policy: bob-own$' "$tmp/out" && ok || bad "a policy of the user's own wins: $(grep policy "$tmp/out")"
expect policy-remove-own 0 "$C" policy remove bob-own
expect policy-bad 2 "$C" policy add x --sso maybe --remote-access off
# The list shows number matching: yes, no, or as the workflow says.
expect policy-add-nm 0 "$C" policy add ward-kiosk --sso off --remote-access on --number-matching off
expect policy-list 0 "$C" policy list
grep -q '^NAME  *SSO  *REMOTE-ACCESS  *NUMBER-MATCHING  *USERS' "$tmp/out" && ok || bad "policy list has a NUMBER-MATCHING column: $(head -1 "$tmp/out")"
grep -q '^staff-sso  *yes  *no  *workflow ' "$tmp/out" && ok || bad "policy list: staff-sso follows the workflow"
grep -q '^ward-kiosk  *no  *yes  *no ' "$tmp/out" && ok || bad "policy list: ward-kiosk without number matching"

# Changes answered only {"ok": true} confirm in one line on stdout (as
# user add shows the user); --json prints the answer instead.
printf 'carols-password-1\n' >"$tmp/pw"
expect carol-add 0 sh -c "\"$C\" user add carol --password-stdin <\"$tmp/pw\""
expect group-add-member 0 "$C" group add-member staff carol
[ "$(cat "$tmp/out")" = "added carol to group staff" ] && ok || bad "group add-member confirms: $(cat "$tmp/out")"
expect ou-add-member 0 "$C" ou add-member Finance carol
[ "$(cat "$tmp/out")" = "added carol to OU Finance" ] && ok || bad "ou add-member confirms: $(cat "$tmp/out")"
expect group-add-member-again 0 "$C" group add-member staff carol
[ "$(cat "$tmp/out")" = "carol was already in group staff" ] && ok || bad "group add-member again says so: $(cat "$tmp/out")"
expect group-remove-member 0 "$C" group remove-member staff carol
[ "$(cat "$tmp/out")" = "removed carol from group staff" ] && ok || bad "group remove-member confirms"
expect group-remove-member-again 0 "$C" group remove-member staff carol
[ "$(cat "$tmp/out")" = "carol was not in group staff" ] && ok || bad "group remove-member again says so: $(cat "$tmp/out")"
expect ou-add-member-again-json 0 "$C" --json ou add-member Finance carol
grep -q '"changed": false' "$tmp/out" && ok || bad "--json: changed false for a member added again"
expect ou-remove-member-json 0 "$C" --json ou remove-member Finance carol
grep -q '"ok": true' "$tmp/out" && ! grep -q 'removed' "$tmp/out" && ok || bad "--json prints the answer, not the line"
expect user-unlock-confirms 0 "$C" user unlock carol
[ "$(cat "$tmp/out")" = "unlocked user carol" ] && ok || bad "user unlock confirms"
# --password-stdin takes one line: a second is refused, nothing is sent.
printf 'carol-new-1\ncarol-new-2\n' >"$tmp/pw2"
expect passwd-two-lines 2 sh -c "\"$C\" user passwd carol --password-stdin <\"$tmp/pw2\""
[ ! -s "$tmp/out" ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q 'more than one line' "$tmp/err" &&
	ok || bad "two lines of password refused in one line"
printf 'carol-new-1\r\n' >"$tmp/pw2"
expect passwd-crlf 0 sh -c "\"$C\" user passwd carol --password-stdin <\"$tmp/pw2\""
[ "$(cat "$tmp/out")" = "set the password of user carol" ] && ok || bad "user passwd confirms: $(cat "$tmp/out")"
# No such user: said before any password is asked for on the terminal
# (script(1) gives the command one).
expect passwd-nosuch 4 timeout 10 script -qec "\"$C\" user passwd nosuchuser" /dev/null
grep -q 'no such user' "$tmp/out" && ! grep -qi 'password' "$tmp/out" && ok ||
	bad "user passwd of nobody says so first: $(cat "$tmp/out")"
# Typed on a terminal: twice, without echo. The command runs under
# script(1) with a shell after it that reports its status and whether
# the terminal echoes again; each input is typed once its prompt shows
# (the prompts of one run differ).
cat >"$tmp/tty.sh" <<EOF
trap : INT
"$C" "\$@"
echo "status=\$?"
stty -a | tr ' ;' '\n\n' | grep -x -e echo -e -echo
EOF
# saw TEXT N: waits (up to 20 s) for N lines of $tmp/out holding TEXT.
saw() {
	i=0
	until [ "$(grep -c -- "$1" "$tmp/out")" -ge "$2" ]; do
		i=$((i + 1))
		[ "$i" -gt 400 ] && return 1
		sleep 0.05
	done
}
# on_tty ARGS -- PROMPT INPUT ...: authflowctl ARGS on a terminal, each
# INPUT typed after its PROMPT; what the terminal showed is in $tmp/out.
on_tty() {
	args=
	while [ "$1" != -- ]; do
		args="$args $1"
		shift
	done
	shift
	rm -f "$tmp/tty.in"
	mkfifo "$tmp/tty.in"
	timeout 30 script -qec "sh $tmp/tty.sh$args" /dev/null <"$tmp/tty.in" >"$tmp/out" 2>&1 &
	spid=$!
	exec 3>"$tmp/tty.in"
	while [ $# -ge 2 ]; do
		saw "$1" 1 && sleep 0.2 && printf '%b' "$2" >&3
		shift 2
	done
	saw '^-\{0,1\}echo' 1
	exec 3>&-
	wait "$spid"
}
# echoes: the terminal echoed again once authflowctl had ended.
echoes() { tr -d '\r' <"$tmp/out" | grep -qx echo; }
printf 'tty-password-1\n' >"$tmp/pw"
expect tty-user 0 sh -c "\"$C\" user add ttyuser --password-stdin <\"$tmp/pw\""
on_tty user passwd ttyuser -- "password: " 'tty-password-2\r' "Again: " 'tty-password-2\r'
grep -q "set the password of user ttyuser" "$tmp/out" && grep -q "^status=0" "$tmp/out" && echoes &&
	ok || bad "a password typed twice on a terminal: $(cat "$tmp/out")"
on_tty user passwd ttyuser -- "password: " 'tty-password-3\r' "Again: " 'tty-password-4\r'
grep -q "the two passwords differ" "$tmp/out" && grep -q "^status=2" "$tmp/out" && echoes &&
	ok || bad "two different passwords on a terminal: $(cat "$tmp/out")"
# Ctrl-C at the prompt: the terminal echoes again, nothing is sent.
on_tty user passwd ttyuser -- "password: " '\003'
grep -q "interrupted: nothing was changed" "$tmp/out" && grep -q "^status=2" "$tmp/out" && echoes &&
	ok || bad "Ctrl-C at a password prompt: $(cat "$tmp/out")"
# Temporary passwords: the user must choose a new one at the next
# sign-in; user show says so, a lasting password or user set lifts it.
printf 'carol-temporary-1\n' >"$tmp/pw2"
expect passwd-temporary 0 sh -c "\"$C\" user passwd carol --password-stdin --temporary <\"$tmp/pw2\""
[ "$(cat "$tmp/out")" = "set a temporary password for user carol: it must be changed at the next sign-in" ] &&
	ok || bad "user passwd --temporary confirms: $(cat "$tmp/out")"
expect passwd-temporary-audit 0 "$C" --json audit --limit 1
grep -q '"action": "user.passwd"' "$tmp/out" && grep -q '"temporary": true' "$tmp/out" && ok ||
	bad "user.passwd event says temporary: $(cat "$tmp/out")"
expect show-change-required 0 "$C" --json user show carol
grep -q '"password_change_required": true' "$tmp/out" && ok || bad "a temporary password requires a change"
expect show-change-required-human 0 "$C" user show carol
grep -q '^password_change_required: yes$' "$tmp/out" && ok || bad "user show says a change is required"
printf 'carol-lasting-1\n' >"$tmp/pw2"
expect passwd-lasting 0 sh -c "\"$C\" user passwd carol --password-stdin <\"$tmp/pw2\""
[ "$(cat "$tmp/out")" = "set the password of user carol" ] && ok || bad "user passwd confirms: $(cat "$tmp/out")"
expect show-change-lifted 0 "$C" --json user show carol
grep -q '"password_change_required": false' "$tmp/out" && ok || bad "a lasting password lifts the requirement"
expect set-change-on 0 "$C" --json user set carol --password-change on
grep -q '"password_change_required": true' "$tmp/out" && ok || bad "user set --password-change on"
expect set-change-off 0 "$C" --json user set carol --password-change off
grep -q '"password_change_required": false' "$tmp/out" && ok || bad "user set --password-change off"
expect set-change-bad 2 "$C" user set carol --password-change maybe
[ ! -s "$tmp/out" ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && ok || bad "--password-change maybe refused in one line"
printf 'franks-temporary-1\n' >"$tmp/pw2"
expect add-temporary 0 sh -c "\"$C\" user add frank --temporary --password-stdin <\"$tmp/pw2\""
grep -q '^password_change_required: yes$' "$tmp/out" && grep -q '^password_set: yes$' "$tmp/out" &&
	ok || bad "user add --temporary: $(cat "$tmp/out")"
expect add-temporary-show 0 "$C" --json user show frank
grep -q '"password_change_required": true' "$tmp/out" && ok || bad "user add --temporary requires a change"
expect add-temporary-remove 0 "$C" user remove frank
# Without a password there is nothing to change: refused, nothing sent.
expect add-temporary-nopw 2 "$C" user add gina --temporary
[ ! -s "$tmp/out" ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q -- '--password-stdin' "$tmp/err" &&
	ok || bad "user add --temporary without a password: $(cat "$tmp/err")"
expect add-temporary-nopw-none 4 "$C" user show gina
expect user-remove-confirms 0 "$C" user remove carol
[ "$(cat "$tmp/out")" = "removed user carol" ] && ok || bad "user remove confirms: $(cat "$tmp/out")"
expect group-remove-confirms 0 sh -c "\"$C\" group add temp && \"$C\" group remove temp"
[ "$(tail -1 "$tmp/out")" = "removed group temp" ] && ok || bad "group remove confirms"

expect app-add 0 "$C" --json app add --name crm --display-name "CRM" \
	--redirect-uri https://crm.example.com/login/callback \
	--post-logout-uri https://crm.example.com/
for k in client_id client_secret metadata_url; do
	grep -q "\"$k\"" "$tmp/out" && ok || bad "app add --json has $k"
done
cid=$(sed -n 's/.*"client_id": "\([^"]*\)".*/\1/p' "$tmp/out" | head -1)
expect app-add-human 0 "$C" app add --name crm2 --redirect-uri https://crm2.example.com/cb
[ "$(grep -c '^client_id: \|^client_secret: \|^metadata_url: ' "$tmp/out")" -eq 3 ] && ok || bad "app add prints three lines"
cid2=$(sed -n 's/^client_id: //p' "$tmp/out")
expect app-bad-uri 1 "$C" app add --name evil --redirect-uri "javascript:alert(1)"
expect app-deploy 0 "$C" app deploy "$cid" --group staff
expect app-list 0 "$C" app list
grep -q "$cid" "$tmp/out" && ok || bad "app list shows the new app"
expect app-rotate 0 "$C" app rotate-secret "$cid"
sec1=$(sed -n 's/^client_secret: //p' "$tmp/out")
# revoke_as SECRET: the status /revoke answers the app with that secret.
revoke_as() {
	curl -s -o /dev/null -w '%{http_code}' -u "$cid:$1" -d token=none "$AUTHFLOW_URL/revoke"
}
[ "$(revoke_as "$sec1")" = 200 ] && ok || bad "the rotated secret authenticates"
# A rotation that keeps the replaced secret an hour: both work, the old
# one with a warning in the log, until it is dropped.
expect app-rotate-keep 0 "$C" app rotate-secret "$cid" --keep-previous 1h
sec2=$(sed -n 's/^client_secret: //p' "$tmp/out")
grep -q '^previous_secret_until: 20[0-9][0-9]-' "$tmp/out" && ok || bad "rotate --keep-previous says until when: $(cat "$tmp/out")"
[ "$(revoke_as "$sec1")" = 200 ] && [ "$(revoke_as "$sec2")" = 200 ] && ok || bad "both secrets work while one is kept"
grep -q '"event":"client_auth".*"outcome":"previous_secret"' "$tmp/demo.err" "$tmp/demo.out" && ok ||
	bad "the log warns of an app using its replaced secret"
expect app-show-kept 0 "$C" app show "$cid"
grep -q '^previous_secret_until: ' "$tmp/out" && ! grep -q 'sha256' "$tmp/out" && ok || bad "app show: the end, not the hash"
expect app-drop-previous 0 "$C" app drop-previous-secret "$cid"
[ "$(revoke_as "$sec1")" = 401 ] && [ "$(revoke_as "$sec2")" = 200 ] && ok || bad "the dropped secret stops at once"
expect app-drop-none 5 "$C" app drop-previous-secret "$cid"
grep -q 'no secret replaced by a rotation is kept' "$tmp/err" && ok || bad "drop with none kept: $(cat "$tmp/err")"
expect app-rotate-keep-bad 2 "$C" app rotate-secret "$cid" --keep-previous 31d
expect app-set 0 "$C" --json app set "$cid" --name crm-renamed --claim dept=ous \
	--claim login=username --jwt-access-tokens on
grep -q '"name": "crm-renamed"' "$tmp/out" && grep -q '"dept": "ous"' "$tmp/out" &&
	grep -q '"access_token_format": "jwt"' "$tmp/out" && ok || bad "app set renames, maps claims, picks JWTs"
expect app-set-no-claims 0 "$C" --json app set "$cid" --no-claims --jwt-access-tokens off
grep -q '"claims": {}' "$tmp/out" && grep -q '"access_token_format": "opaque"' "$tmp/out" &&
	ok || bad "app set --no-claims"
expect app-set-both 2 "$C" app set "$cid" --claim a=sub --no-claims
expect app-set-grace 0 "$C" --json app set "$cid" --refresh-grace 30
grep -q '"refresh_grace_seconds": 30' "$tmp/out" && ok || bad "app set --refresh-grace"
expect app-add-grace 0 "$C" --json app add --name crm3 --allow-refresh \
	--refresh-grace 5 --redirect-uri https://crm3.example.com/cb
grep -q '"refresh_grace_seconds": 5' "$tmp/out" && ok || bad "app add --refresh-grace"

expect app-remove 0 "$C" app remove "$cid2"
[ "$(cat "$tmp/out")" = "removed app $cid2" ] && ok || bad "app remove confirms: $(cat "$tmp/out")"

expect keys-status 0 "$C" keys status
expect keys-rotate 0 "$C" keys rotate
grep -q '^KID  *SIGNS_FROM  *EXPIRES_AT  *LEAVES_JWKS  *SIGNING$' "$tmp/out" && ok || bad "keys rotate prints the table of keys"
n=$(curl -fs "$AUTHFLOW_URL/jwks" | grep -o '"kid"' | wc -l)
[ "$n" -ge 2 ] && ok || bad "jwks keeps the old key after rotation ($n kids)"

expect sessions 0 "$C" sessions list alice
expect unlock 0 "$C" user unlock bob
expect audit 0 "$C" audit --limit 5
grep -q "demo-admin" "$tmp/out" && ok || bad "audit names the actor"
grep -q '^SEQ  *TIME  *ACTOR  *ACTION  *TARGET  *IP  *DETAIL$' "$tmp/out" && ok || bad "audit table columns"
# Where each change came from: this command's own address.
grep 'demo-admin' "$tmp/out" | grep -q ' 127\.0\.0\.1 ' && ok || bad "audit shows the address a change came from"
before=$(sed -n 's/^older events: run the same command with --before \([0-9]*\)$/\1/p' "$tmp/err")
[ -n "$before" ] && ok || bad "audit says where the older events start"
grep -q 'older' "$tmp/out" && bad "audit's paging hint is not a row of the table" || ok
expect audit-before 0 "$C" --json audit --limit 1 --before "${before:-1}"
grep -q "\"seq\": $((${before:-1} - 1))," "$tmp/out" && ok || bad "audit --before pages back"
expect audit-before-bad 2 "$C" audit --before x
# Filters: a kind of action for one target, the last hour's by an actor.
expect audit-filter 0 "$C" --json audit --action user. --target bob
grep -q '"action": "user.add"' "$tmp/out" && ok || bad "audit --action user. --target bob finds the user's events"
grep '"target":' "$tmp/out" | grep -vq '"target": "bob"' && bad "audit --target keeps other targets" || ok
# --user: a user's events and those naming them in their detail (a
# group joined, a policy assigned), nobody else's.
expect audit-user 0 "$C" --json audit --user carol --limit 1000
grep -q '"action": "group.add_member"' "$tmp/out" && grep -q '"user": "carol"' "$tmp/out" &&
	ok || bad "audit --user carol finds carol joining a group"
grep '"target":' "$tmp/out" | grep -q '"target": "bob"' && bad "audit --user carol shows bob's events" || ok
# User names are folded, as everywhere else: Carol is carol.
expect audit-user-case 0 "$C" --json audit --user Carol --limit 1000
grep -q '"action": "group.add_member"' "$tmp/out" && grep -q '"user": "carol"' "$tmp/out" &&
	ok || bad "audit --user Carol finds carol's events"
expect audit-user-policy 0 "$C" --json audit --user bob --action policy. --limit 1000
grep -q '"action": "policy.assign"' "$tmp/out" && grep -q '"users": "bob"' "$tmp/out" &&
	ok || bad "audit --user bob finds a policy assigned to bob"
expect audit-since 0 "$C" audit --since 1h --actor demo-admin --limit 1000
grep -q 'demo-admin' "$tmp/out" && ok || bad "audit --since 1h --actor finds the recent changes"
expect audit-since-none 0 "$C" --json audit --actor nobody-at-all
grep -q '"events": \[\]' "$tmp/out" && ok || bad "audit --actor of nobody lists none"
expect audit-since-bad 2 "$C" audit --since soon
# An incident's window in UTC dates: today's changes are in it, and not
# in one that ended yesterday.
today=$(date -u +%Y-%m-%d)
expect audit-window 0 "$C" audit --since "$today" --until "$(date -u -d tomorrow +%Y-%m-%d)" --actor demo-admin --limit 1000
grep -q 'demo-admin' "$tmp/out" && ok || bad "audit --since DATE --until DATE finds the day's changes"
expect audit-window-before 0 "$C" --json audit --until "$today" --actor demo-admin
grep -q '"events": \[\]' "$tmp/out" && ok || bad "audit --until today lists none of today's"
expect audit-window-backwards 2 "$C" audit --since "$today" --until 2020-01-01
# A filter is printable text, as everything on the trail is: invalid
# UTF-8, a direction override or a zero-width space is a 400.
for q in 'actor=%ff%fe' 'target=a%E2%80%AEb' 'action=a%E2%80%8Bb'; do
	code=$(curl -s -o "$tmp/out" -w '%{http_code}' -H "Authorization: Bearer $AUTHFLOW_ADMIN_TOKEN" \
		"$AUTHFLOW_URL/admin/v1/audit?$q")
	[ "$code" = 400 ] && grep -q 'printable' "$tmp/out" && ok || bad "audit?$q: $code $(cat "$tmp/out")"
done

# Push MFA administration: workflow, enrollment codes, devices, queue.
expect workflow-show 0 "$C" workflow show
grep -q '^number_matching: on$' "$tmp/out" && ok || bad "workflow show"
expect workflow-set 0 "$C" workflow set --push-limit 5/10m --report-pause 1h \
	--min-app-version ios=2023.2
grep -q '^push_limit: 5/10m$' "$tmp/out" && grep -q '^report_pause: 1h$' "$tmp/out" &&
	grep -q '^min_app_version: ios=2023.2$' "$tmp/out" && ok || bad "workflow set output"
# A count alone keeps the period.
expect workflow-set-count 0 "$C" workflow set --push-limit 4
grep -q '^push_limit: 4/10m$' "$tmp/out" && ok || bad "workflow set --push-limit COUNT keeps the period"
# Out of the server's ranges: refused before it is sent (usage, exit 2).
expect workflow-set-limit-range 2 "$C" workflow set --push-limit 1000/5m
grep -q 'COUNT 1\.\.100' "$tmp/err" && ok || bad "push-limit range said by the client"
expect workflow-set-pause-range 2 "$C" workflow set --report-pause 2d
grep -q 'at most a day' "$tmp/err" && ok || bad "report-pause range said by the client"
# An empty value clears a user's field or list.
expect user-set-clear 0 "$C" --json user set bob --email '' --group ''
grep -q '"groups": \[\]' "$tmp/out" && ! grep -q '"email"' "$tmp/out" && ok || bad "user set clears email and groups"
# A body over the server's limit: one clear line, not a bare status.
expect user-add-too-big 1 "$C" user add big --name "$(head -c 70000 /dev/zero | tr '\0' x)"
grep -q 'too large' "$tmp/err" && [ "$(wc -l <"$tmp/err")" -eq 1 ] && ok || bad "413 said in words"
expect workflow-show-json 0 "$C" --json workflow show
grep -q '"period_s": 600' "$tmp/out" && ok || bad "workflow show --json"
expect enroll-code 0 "$C" device enroll-code bob
grep -q '^code: [A-Z2-7]\{16\}$' "$tmp/out" &&
	grep -q '^uri: authflow://enroll?issuer=http%3A%2F%2F127.0.0.1%3A[0-9]*&code=[A-Z2-7]*&user=bob$' "$tmp/out" &&
	grep -q '^expires_at: 20[0-9-]*T[0-9:]*Z$' "$tmp/out" && ok || bad "enroll-code lines"
# Not a terminal: no QR code, just the three lines.
[ "$(wc -l <"$tmp/out")" -eq 3 ] && ok || bad "enroll-code draws no QR code into a pipe"
expect enroll-code-json 0 "$C" device enroll-code bob --json
grep -q '"code"' "$tmp/out" && grep -q '"uri"' "$tmp/out" && grep -q '"expires_at"' "$tmp/out" &&
	ok || bad "enroll-code --json"
expect enroll-code-nobody 4 "$C" device enroll-code nobody
# A code sent to the wrong person goes, with the user's other codes.
expect revoke-codes 0 "$C" device revoke-codes bob
[ "$(cat "$tmp/out")" = "revoked the enrollment codes of bob" ] && ok || bad "device revoke-codes confirms"
expect revoke-codes-nobody 4 "$C" device revoke-codes nobody
expect revoke-codes-no-user 2 "$C" device revoke-codes
expect device-list 0 "$C" device list bob
grep -q '^DEVICE-ID  *NAME  *PLATFORM  *PUSH  *APP-VERSION  *CREATED  *LAST-SEEN$' "$tmp/out" &&
	ok || bad "device list header"
expect device-remove-missing 4 "$C" device remove AAAAAAAAAAAAAAAAAAAAAA
# The help desk names a phone: shown at once, and in the list after.
expect device-list-alice 0 "$C" --json device list alice
phone=$(sed -n 's/.*"id": "\([A-Za-z0-9_-]*\)".*/\1/p' "$tmp/out" | head -n 1)
expect device-rename 0 "$C" device rename "${phone:-x}" "Alice's demo phone (desk 4)"
grep -q "Alice's demo phone (desk 4)" "$tmp/out" && grep -q '^DEVICE-ID ' "$tmp/out" &&
	ok || bad "device rename shows the renamed device"
expect device-list-renamed 0 "$C" device list alice
grep -q "Alice's demo phone (desk 4)" "$tmp/out" && ok || bad "device list shows the new name"
expect device-rename-empty 2 "$C" device rename "${phone:-x}" ''
expect device-rename-missing 4 "$C" device rename AAAAAAAAAAAAAAAAAAAAAA x
expect device-rename-one-arg 2 "$C" device rename "${phone:-x}"
# A device id from a log line: whose phone it is.
expect device-show 0 "$C" device show "${phone:-x}"
grep -q '^user: alice$' "$tmp/out" && grep -q "^device_name: Alice's demo phone (desk 4)$" "$tmp/out" &&
	! grep -q 'totp' "$tmp/out" && ok || bad "device show: $(cat "$tmp/out")"
expect device-show-missing 4 "$C" device show AAAAAAAAAAAAAAAAAAAAAA
expect device-show-bad 4 "$C" device show 'not/an/id'
expect push-queue 0 "$C" push queue --limit 5
grep -q '^JOB  *TXN  *DEVICE  *PLATFORM  *USER  *APP$' "$tmp/out" &&
	grep -q '^length: [0-9]*$' "$tmp/out" && grep -q '^pending: [0-9]*$' "$tmp/out" && ok || bad "push queue output"
# Back to the defaults, so that the demo sign-in below is not affected.
expect workflow-reset 0 "$C" workflow set --push-limit 3/5m --report-pause 15m \
	--min-app-version none
grep -q '^min_app_version: none$' "$tmp/out" && ok || bad "workflow set --min-app-version none"

# Branding: what the pages show, checked by the server, shown at once.
printf '\211PNG\r\n\032\n-logo-bytes-' >"$tmp/logo.png"
printf '<svg xmlns="http://www.w3.org/2000/svg"/>' >"$tmp/logo.svg"
expect branding-show-builtin 0 "$C" branding show
grep -q '^name: -$' "$tmp/out" && grep -q '^logo: -$' "$tmp/out" && ok || bad "branding show built-in"
expect branding-set 0 "$C" branding set --name 'Acme <Health>' --color '#FFCC00' \
	--help-text 'Service desk: 555 0100' --help-url 'tel:+15550100' --logo "$tmp/logo.png"
grep -q '^color: #ffcc00$' "$tmp/out" && grep -q '^logo: image/png, 20 bytes, sha256 [0-9a-f]\{16\}$' "$tmp/out" &&
	ok || bad "branding set output"
page=$(curl -s "$AUTHFLOW_URL/demo")
echo "$page" | grep -q '<span>Acme &lt;Health&gt;</span>' &&
	echo "$page" | grep -q '<a href="tel:+15550100">Service desk: 555 0100</a>' && ok || bad "page shows the branding"
curl -s "$AUTHFLOW_URL/no-such-page" | grep -q '<span>Acme &lt;Health&gt;</span>' && ok || bad "404 page is branded"
v=$(echo "$page" | sed -n 's/.*brand\.css?v=\([0-9a-f]*\)".*/\1/p')
[ -n "$v" ] && curl -s "$AUTHFLOW_URL/static/brand.css?v=$v" | grep -q -- '--accent:#ffcc00;--on-accent:#000000' &&
	ok || bad "brand.css has the accent"
curl -s -o "$tmp/got.png" -w '%{content_type}' "$AUTHFLOW_URL/static/brand-logo?v=$v" | grep -q '^image/png$' &&
	cmp -s "$tmp/got.png" "$tmp/logo.png" && ok || bad "brand-logo serves the logo"
expect branding-svg-refused 1 "$C" branding set --logo "$tmp/logo.svg"
grep -q 'logo' "$tmp/err" && [ "$(wc -l <"$tmp/err")" -eq 1 ] && ok || bad "svg logo refused in one line"
expect branding-bad-url 1 "$C" branding set --help-url 'javascript:alert(1)'
expect branding-no-file 2 "$C" branding set --logo "$tmp/missing.png"
expect branding-folder 2 "$C" branding set --logo "$tmp"
grep -q 'is a folder' "$tmp/err" && ok || bad "a folder as the logo is named as one"
expect branding-nothing 2 "$C" branding set
expect branding-two-logos 2 "$C" branding set --logo "$tmp/logo.png" --no-logo
expect branding-clear 0 "$C" branding set --help-text '' --no-logo
grep -q '^help_text: -$' "$tmp/out" && grep -q '^logo: -$' "$tmp/out" && ok || bad "branding set clears"
expect branding-reset 0 "$C" branding reset
[ "$(cat "$tmp/out")" = "reset the branding to the built-in look" ] && ok || bad "branding reset confirms"
curl -s "$AUTHFLOW_URL/demo" | grep -q '<span>authflow</span>' && ok || bad "reset gives the built-in look"

expect bad-token 1 env AUTHFLOW_ADMIN_TOKEN=wrong "$C" status
expect no-server 3 env AUTHFLOW_URL=http://127.0.0.1:1 "$C" status

# A server that answers JSON without what status shows: nothing on stdout,
# one line on stderr, exit 3 (not an admin API answer). The mock's answer
# is named by the token.
node -e "
const bodies = {
	empty: '{}',
	nokeys: '{\"issuer\":\"http://x\",\"version\":\"1\",\"store\":{\"backend\":\"memory\",\"ok\":true},\"users\":1,\"apps\":1}',
	nostore: '{\"issuer\":\"http://x\",\"version\":\"1\",\"keys\":{\"expires_in_days\":30}}',
	badtypes: '{\"number_matching\":null,\"legacy\":\"x\",\"min_app_version\":5,\"push_limit\":\"a\",\"report_pause_s\":\"b\",\"enroll_after_password\":[]}',
	storedown: '{\"issuer\":\"http://x\",\"version\":\"1\",\"store\":{\"backend\":\"redis\",\"ok\":false},\"users\":null,\"apps\":null,\"keys\":{\"expires_in_days\":30}}',
	unaudited: '{\"client_id\":\"c1\",\"client_secret\":\"s1\",\"metadata_url\":\"http://x/.well-known/openid-configuration\",\"warning\":\"the change was made, but the audit trail could not record it\"}',
};
// 503s of the admin API: the store's failure alone, and a change made
// whose audit event could not be written.
const unavailable = {
	storefail: '{\"error\":\"unavailable\",\"message\":\"state store failure\"}',
	auditfail: '{\"error\":\"unavailable\",\"message\":\"settings changed, but the audit event could not be written (state store failure)\"}',
};
// Other refusals, for the exit status each gets.
const refusals = {
	r404: [404, ''],
	r404route: [404, '{\"error\":\"not_found\",\"message\":\"no such resource\"}'],
	r404user: [404, '{\"error\":\"not_found\",\"message\":\"no such user\"}'],
	r409: [409, '{\"error\":\"exists\",\"message\":\"user already exists\"}'],
	r429: [429, ''],
	r502: [502, ''],
	r403: [403, '{\"error\":\"forbidden\",\"message\":\"the token may not do this\"}'],
};
const s = require('http').createServer((q, r) => {
	const t = (q.headers.authorization || '').replace('Bearer ', '');
	if (refusals[t]) {
		r.writeHead(refusals[t][0], {'content-type': 'application/json'});
		r.end(refusals[t][1]);
		return;
	}
	r.writeHead(unavailable[t] ? 503 : 200, {'content-type': 'application/json'});
	r.end(unavailable[t] || bodies[t] || '{}');
}).listen(0, '127.0.0.1', () => console.log(s.address().port));
" >"$tmp/mock.port" &
mock=$!
i=0
until [ -s "$tmp/mock.port" ] || [ "$i" -gt 100 ]; do i=$((i + 1)); sleep 0.05; done
for t in empty nokeys nostore; do
	expect "status-answer-$t" 3 env AUTHFLOW_URL="http://127.0.0.1:$(cat "$tmp/mock.port")" \
		AUTHFLOW_ADMIN_TOKEN=$t "$C" status
	[ ! -s "$tmp/out" ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] &&
		grep -q 'unexpected answer' "$tmp/err" && ok ||
		bad "status-answer-$t: nothing on stdout, one line on stderr"
done
for t in empty badtypes; do
	expect "workflow-answer-$t" 3 env AUTHFLOW_URL="http://127.0.0.1:$(cat "$tmp/mock.port")" \
		AUTHFLOW_ADMIN_TOKEN=$t "$C" workflow show
	[ ! -s "$tmp/out" ] && grep -q 'unexpected answer' "$tmp/err" && ok ||
		bad "workflow show of an answer without the settings ($t): nothing on stdout"
done
mockurl="http://127.0.0.1:$(cat "$tmp/mock.port")"
# A store the server reports down: the status in full, then exit 6 with
# one line on stderr (also with --json), for monitoring and scripts.
expect status-store-down 6 env AUTHFLOW_URL="$mockurl" AUTHFLOW_ADMIN_TOKEN=storedown "$C" status
grep -q '^store: redis, DOWN$' "$tmp/out" && grep -q '^issuer: http://x$' "$tmp/out" &&
	[ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q 'cannot reach its state store (redis)' "$tmp/err" &&
	ok || bad "status with the store down: printed, one line on stderr"
expect status-store-down-json 6 env AUTHFLOW_URL="$mockurl" AUTHFLOW_ADMIN_TOKEN=storedown "$C" --json status
grep -q '"ok": false' "$tmp/out" && ok || bad "status --json with the store down prints the answer"
# A 503 for the store says what it means and what to do, with the
# server's own message.
expect store-503-change 6 env AUTHFLOW_URL="$mockurl" AUTHFLOW_ADMIN_TOKEN=storefail "$C" user remove x
[ "$(wc -l <"$tmp/err")" -eq 1 ] &&
	grep -q 'could not reach its state store (state store failure), so the change was not made, or only in part: check the store, look, and try again' "$tmp/err" &&
	ok || bad "503 of a change: $(cat "$tmp/err")"
expect store-503-read 6 env AUTHFLOW_URL="$mockurl" AUTHFLOW_ADMIN_TOKEN=storefail "$C" user list
grep -q 'could not reach its state store (state store failure): try again' "$tmp/err" &&
	! grep -q 'change' "$tmp/err" && ok || bad "503 of a read: $(cat "$tmp/err")"
expect store-503-said 1 env AUTHFLOW_URL="$mockurl" AUTHFLOW_ADMIN_TOKEN=auditfail "$C" workflow set --legacy off
grep -q 'state store: settings changed, but the audit event could not be written' "$tmp/err" &&
	! grep -q 'not made' "$tmp/err" && ok || bad "503 that says the change was made: $(cat "$tmp/err")"
# Exit statuses a script branches on: 404 without the admin API's message,
# or with its message for a route it lacks, is no such admin API route
# (3), one for a user not there 4, 409 in the way (5), 429 and 502 try
# later (6), other refusals 1; one line on stderr each. (A 503 for a
# change the server says it made is 1: done again, it would be twice.)
for r in r404:3 r404route:3 r404user:4 r409:5 r429:6 r502:6 r403:1; do
	expect "refusal-${r%%:*}" "${r#*:}" env AUTHFLOW_URL="$mockurl" AUTHFLOW_ADMIN_TOKEN="${r%%:*}" "$C" user show x
	[ ! -s "$tmp/out" ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && ok || bad "refusal-${r%%:*}: one line on stderr"
done
grep -q 'the token may not do this' "$tmp/err" && ok || bad "a 403 says the server's message"
# A secret handed out although its audit event was not written: the
# server's warning reaches the terminal too.
expect app-add-unaudited 0 env AUTHFLOW_URL="$mockurl" AUTHFLOW_ADMIN_TOKEN=unaudited "$C" app add --name x --redirect-uri https://rp.example/cb
grep -q '^client_secret: s1$' "$tmp/out" &&
	grep -q '^authflowctl: warning: the change was made, but the audit trail could not record it$' "$tmp/err" &&
	ok || bad "app add passes on the server's warning: $(cat "$tmp/err")"
expect device-remove-confirms 0 env AUTHFLOW_URL="$mockurl" AUTHFLOW_ADMIN_TOKEN=empty "$C" device remove AAAAAAAAAAAAAAAAAAAAAA
[ "$(cat "$tmp/out")" = "removed device AAAAAAAAAAAAAAAAAAAAAA" ] && ok || bad "device remove confirms"
kill "$mock" 2>/dev/null
wait "$mock" 2>/dev/null
expect user-remove 0 "$C" user remove bob

# The demo as a newcomer uses it: sign in at /demo and see the claims.
cj="$tmp/cookies"
loc=$(curl -s -c "$cj" -b "$cj" -o /dev/null -w '%{redirect_url}' "$AUTHFLOW_URL/demo/login")
# A second tab begins a sign-in too: the first one still finishes.
curl -s -c "$cj" -b "$cj" -o /dev/null "$AUTHFLOW_URL/demo/login"
# /authorize answers with the sign-in form at once.
page=$(curl -s -c "$cj" -b "$cj" "$loc")
flow=$(echo "$page" | sed -n 's/.*name="flow" value="\([^"]*\)".*/\1/p')
csrf=$(echo "$page" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p')
mfa=$(curl -s -c "$cj" -b "$cj" -o /dev/null -w '%{redirect_url}' \
	--data-urlencode "flow=$flow" --data-urlencode "csrf=$csrf" \
	--data-urlencode username=alice --data-urlencode password=alice-demo-pass \
	"$AUTHFLOW_URL/login")
# alice has MFA: read the number, answer on the demo phone, finish.
# The newcomer is told where the phone is: banner, /demo, the MFA page.
grep -q "Demo phone:    $AUTHFLOW_URL/demo/phone" "$tmp/demo.out" && ok || bad "the banner names the demo phone"
curl -s "$AUTHFLOW_URL/demo" | grep -q 'href="/demo/phone"' && ok || bad "/demo links to the demo phone"
mfapage=$(curl -s -c "$cj" -b "$cj" "$mfa")
echo "$mfapage" | grep -q 'In this demo the phone is a web page: open <a href="/demo/phone"' && ok ||
	bad "the MFA page points to the demo phone"
number=$(echo "$mfapage" | sed -n 's/.*class="number"[^>]*>\([0-9]*\)<.*/\1/p')
phone=$(curl -s "$AUTHFLOW_URL/demo/phone")
# The phone has a number pad, a live countdown and its script.
echo "$phone" | grep -q 'data-phone-digit="7"' && echo "$phone" | grep -q 'data-left' &&
	echo "$phone" | grep -q 'src="/static/phone.js"' && ok || bad "demo phone pad and countdown"
curl -fs "$AUTHFLOW_URL/static/phone.js" | grep -q "data-phone-digit" && ok || bad "phone.js served"
# Without script it reloads to find challenges, never while one is shown.
echo "$phone" | grep -q 'http-equiv="refresh"' && bad "demo phone reloads over a challenge" || ok
txn=$(echo "$phone" | sed -n 's/.*name="txn" value="\([^"]*\)".*/\1/p' | head -1)
pcsrf=$(echo "$phone" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' | head -1)
curl -s --data-urlencode "txn=$txn" --data-urlencode "csrf=$pcsrf" \
	--data-urlencode "number=$number" --data-urlencode decision=approve \
	"$AUTHFLOW_URL/demo/phone" >"$tmp/phone" && grep -q "Answer sent: approved" "$tmp/phone" && ok || bad "demo phone approves"
grep -q 'http-equiv="refresh"' "$tmp/phone" && ok || bad "demo phone reloads while idle"
curl -fs "$AUTHFLOW_URL/metrics" | grep -q '^authflow_mfa_total{outcome="approved"} [1-9]' && ok || bad "demo phone answers are counted"
cb=$(curl -s -c "$cj" -b "$cj" -o /dev/null -w '%{redirect_url}' "$mfa")
# The callback opened in another browser (an attacker's own sign-in sent
# to a victim) is refused: the demo binds its state to the browser.
curl -s "$cb" | grep -q "not started in this browser" && ok || bad "demo callback without the browser's state cookie"
curl -s "$AUTHFLOW_URL/demo/callback?error=access_denied" | grep -q '<a href="/demo">Start again</a>' && ok ||
	bad "a failed demo sign-in links back to /demo"
curl -s -c "$cj" -b "$cj" "$cb" >"$tmp/cb" && grep -q "verified your id_token" "$tmp/cb" && ok || bad "demo sign-in shows verified claims: $(sed -n "s/.*<p class=\"msg\"[^>]*>\([^<]*\)<.*/\1/p" "$tmp/cb" | head -3) $(grep -o "<title>[^<]*" "$tmp/cb")"

# Failed passwords show in user show: the count, and the delay's end as a
# time, as every other time is shown.
cj3="$tmp/cookies3"
loc=$(curl -s -c "$cj3" -b "$cj3" -o /dev/null -w '%{redirect_url}' "$AUTHFLOW_URL/demo/login")
page=$(curl -s -c "$cj3" -b "$cj3" "$loc")
flow=$(echo "$page" | sed -n 's/.*name="flow" value="\([^"]*\)".*/\1/p')
csrf=$(echo "$page" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p')
# The fifth failure begins a wait of one second; once it ran out, the
# sixth begins one of two, time enough for user show to meet it.
for i in 1 2 3 4 5 6; do
	[ "$i" -eq 6 ] && sleep 1.1
	curl -s -o /dev/null -c "$cj3" -b "$cj3" --data-urlencode "flow=$flow" \
		--data-urlencode "csrf=$csrf" --data-urlencode username=alice \
		--data-urlencode password=not-her-password "$AUTHFLOW_URL/login"
done
expect user-show-throttled 0 "$C" user show alice
grep -Eq '^failed_signins: [5-9]$' "$tmp/out" &&
	grep -Eq '^delayed_until: [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$' "$tmp/out" && ok ||
	bad "user show: failures and delay: $(grep -E 'failed|until' "$tmp/out")"
expect unlock-alice 0 "$C" user unlock alice

# SIGHUP stops nothing (the demo has no file to read again); SIGTERM
# stops it gracefully with status 0.
kill -HUP "$pid"
sleep 1
curl -fs "$AUTHFLOW_URL/healthz" >/dev/null && ok || bad "SIGHUP stopped the server"
grep -q '"event":"reload","msg":"SIGHUP: the demo has no configuration file to read again' "$tmp/demo.err" && ok ||
	bad "SIGHUP is not logged"
# Nor SIGUSR1, which log rotation sends (its default action would).
kill -USR1 "$pid"
sleep 1
curl -fs "$AUTHFLOW_URL/healthz" >/dev/null && ok || bad "SIGUSR1 stopped the server"
grep -q '"event":"signal","msg":"SIGUSR1: authflow takes no action on it' "$tmp/demo.err" && ok ||
	bad "SIGUSR1 is not logged"
kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
[ "$rc" -eq 0 ] && ok || bad "graceful stop exit status $rc"

# The demo started again on another port, on the same state: its app
# answers at the new addresses.
port2=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
"$BIN/authflow" --demo --port "$port2" --state-dir "$tmp/state" >"$tmp/demo2.out" 2>"$tmp/demo2.err" &
pid=$!
i=0
until curl -fs "http://127.0.0.1:$port2/healthz" >/dev/null 2>&1; do
	i=$((i + 1))
	if [ "$i" -gt 200 ] || ! kill -0 "$pid" 2>/dev/null; then
		cat "$tmp/demo2.err" >&2
		break
	fi
	sleep 0.05
done
loc=$(curl -s -c "$tmp/cj2" -b "$tmp/cj2" -o /dev/null -w '%{redirect_url}' "http://127.0.0.1:$port2/demo/login")
login=$(curl -s -c "$tmp/cj2" -b "$tmp/cj2" "$loc")
case "$loc $login" in
"http://127.0.0.1:$port2/authorize?"*'<form method="post" action="/login">'*) ok ;;
*) bad "demo on a new port: $loc did not lead to the sign-in form" ;;
esac
kill -TERM "$pid"
wait "$pid"
pid=

# --- a configured server with both roles, its request log at info ---
# Token names that the server writes as actors of its own events, and the
# hash of an empty token, are refused with the key's path.
conf() { # conf FILE PORT NAME2 HASH2: a config with ops and a second token
	cat >"$1" <<EOF
{"issuer": "http://127.0.0.1:$2", "listen": {"address": "127.0.0.1", "port": $2},
 "state_dir": "$tmp/state3", "store": {"backend": "memory"}, "log": {"level": "info"},
 "admin": {"tokens": [{"name": "ops", "role": "superadmin", "sha256": "$ops_sha"},
                      {"name": "$3", "role": "admin", "sha256": "$4"}]}}
EOF
	chmod 600 "$1"
}
mkdir -m 700 "$tmp/state3"
ops="ops-token-0123456789abcdef"
hd="helpdesk-token-0123456789abcdef"
ops_sha=$(printf %s "$ops" | sha256sum | cut -d' ' -f1)
hd_sha=$(printf %s "$hd" | sha256sum | cut -d' ' -f1)
port3=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
for tname in authflow AuthFlow - demo; do
	conf "$tmp/bad.json" "$port3" "$tname" "$hd_sha"
	expect "config-name-$tname" 1 "$BIN/authflow" --check-config "$tmp/bad.json"
	grep -q "admin.tokens\[1\].name: \"$tname\" is reserved" "$tmp/err" && ok ||
		bad "token name $tname refused with its path: $(cat "$tmp/err")"
done
conf "$tmp/bad.json" "$port3" helpdesk "$(printf '' | sha256sum | cut -d' ' -f1)"
expect config-empty-hash 1 "$BIN/authflow" --check-config "$tmp/bad.json"
grep -q 'admin.tokens\[1\].sha256: is the SHA-256 of an empty token' "$tmp/err" && ok ||
	bad "empty-token hash refused: $(cat "$tmp/err")"

conf "$tmp/af3.json" "$port3" helpdesk "$hd_sha"
"$BIN/authflow" --config "$tmp/af3.json" >"$tmp/af3.out" 2>"$tmp/af3.err" &
pid=$!
U3="http://127.0.0.1:$port3/admin/v1"
i=0
until curl -fs "http://127.0.0.1:$port3/healthz" >/dev/null 2>&1; do
	i=$((i + 1))
	if [ "$i" -gt 200 ] || ! kill -0 "$pid" 2>/dev/null; then
		cat "$tmp/af3.err" >&2
		break
	fi
	sleep 0.05
done
# api NAME WANT TOKEN METHOD PATH [BODY]: one admin call by curl; the
# status is checked, the answer is in $tmp/body, headers in $tmp/hdr.
api() {
	name=$1 want=$2 tok=$3 method=$4 path=$5
	shift 5
	got=$(curl -s -o "$tmp/body" -D "$tmp/hdr" -w '%{http_code}' -X "$method" \
		-H "Authorization: Bearer $tok" -H 'Content-Type: application/json' \
		${1+--data "$1"} "$U3/$path")
	[ "$got" = "$want" ] && ok || bad "$name: HTTP $got, want $want: $(cat "$tmp/body")"
}
said() { grep -q -- "$2" "$tmp/body" && ok || bad "$1: answer lacks '$2': $(cat "$tmp/body")"; }
seq_now() { curl -s -H "Authorization: Bearer $ops" "$U3/audit?limit=1" | sed -n 's/.*"seq": *\([0-9]*\).*/\1/p'; }

# The MFA workflow is the superadmin's to change; the help desk reads it.
api workflow-get-helpdesk 200 "$hd" GET workflow
api workflow-patch-helpdesk 403 "$hd" PATCH workflow '{"legacy": true}'
said workflow-patch-helpdesk 'changing the MFA workflow needs a superadmin token'
expect workflow-set-helpdesk 1 env AUTHFLOW_URL="http://127.0.0.1:$port3" AUTHFLOW_ADMIN_TOKEN="$hd" \
	"$C" workflow set --number-matching off
grep -q 'needs a superadmin token' "$tmp/err" && ok || bad "workflow set by the help desk refused"
api workflow-still 200 "$hd" GET workflow
said workflow-still '"legacy":false'
api workflow-patch-ops 200 "$ops" PATCH workflow '{"push_limit": {"count": 4}}'
# A push_limit of {} changes nothing: 400 and no audit event.
before=$(seq_now)
api workflow-empty-limit 400 "$ops" PATCH workflow '{"push_limit": {}}'
said workflow-empty-limit 'push_limit: nothing to change'
api workflow-empty-limit-with 400 "$ops" PATCH workflow '{"push_limit": {}, "report_pause_s": 60}'
[ -n "$before" ] && [ "$(seq_now)" = "$before" ] && ok || bad "a refused empty push_limit left an audit event"

# No enrollment code for a disabled user: it could never be redeemed.
api user-dave 201 "$ops" POST users '{"username": "dave", "enabled": false}'
api enroll-disabled 409 "$hd" POST users/dave/enroll-code
said enroll-disabled 'user \\"dave\\" is disabled'
api enable-dave 200 "$hd" PATCH users/dave '{"enabled": true}'
api enroll-enabled 201 "$hd" POST users/dave/enroll-code

# Query parameters: the same refusals on every route.
api query-unknown-users 400 "$hd" GET 'users?foo=1'
said query-unknown-users 'foo: unknown query parameter'
api query-unknown-audit 400 "$hd" GET 'audit?limit=5&foo=1'
said query-unknown-audit 'foo: unknown query parameter'
api query-unknown-queue 400 "$hd" GET 'push/queue?limit=5&foo=1'
api query-unknown-sessions 400 "$hd" GET 'sessions?user=dave&foo=1'
api query-unknown-status 400 "$hd" GET 'status?verbose'
api query-twice-audit 400 "$hd" GET 'audit?limit=1&limit=2'
said query-twice-audit 'limit: a query parameter came twice'
api query-twice-sessions 400 "$hd" GET 'sessions?user=a&user=b'
said query-twice-sessions 'user: a query parameter came twice'
api query-twice-queue 400 "$hd" GET 'push/queue?limit=1&limit=1'
said query-twice-queue 'limit: a query parameter came twice'
# One that does not parse: the API's own error shape.
api query-malformed 400 "$hd" DELETE 'sessions?user=dave&sid=%00'
said query-malformed '"error":"bad_request","message":"malformed query string"'
# An empty sid ends nothing, rather than every session.
api query-empty-sid 400 "$hd" DELETE 'sessions?user=dave&sid='
said query-empty-sid 'sid: empty'
api query-known 200 "$hd" GET 'audit?limit=5&before=100'
api query-none 200 "$hd" GET users

# 405 lists HEAD wherever GET is allowed, since HEAD works there.
api allow-users 405 "$hd" PUT users
grep -qi '^Allow: GET, HEAD, POST' "$tmp/hdr" && ok || bad "Allow of users: $(grep -i '^allow' "$tmp/hdr")"
api allow-status 405 "$hd" POST status
grep -qi '^Allow: GET, HEAD' "$tmp/hdr" && ok || bad "Allow of status"
got=$(curl -s -o /dev/null -w '%{http_code}' -I -H "Authorization: Bearer $hd" "$U3/users")
[ "$got" = 200 ] && ok || bad "HEAD users: $got"

# Two Authorization headers: neither is taken (401 as for a malformed one).
for pair in "$ops $hd" "$hd $ops" "$ops $ops"; do
	# shellcheck disable=SC2086
	set -- $pair
	got=$(curl -s -o "$tmp/body" -D "$tmp/hdr" -w '%{http_code}' -H "Authorization: Bearer $1" \
		-H "Authorization: Bearer $2" "$U3/status")
	[ "$got" = 401 ] && grep -qi '^WWW-Authenticate: Bearer realm="authflow-admin"' "$tmp/hdr" &&
		grep -q 'more than one Authorization header' "$tmp/body" && ok ||
		bad "two Authorization headers: HTTP $got $(cat "$tmp/body")"
done

# A refused keys/rotate names no target: "rotate" is the route's verb.
api rotate-helpdesk 403 "$hd" POST keys/rotate
api queue-target 200 "$hd" GET push/queue
sleep 0.2
grep 'actor=helpdesk action=keys.rotate target=- status=403' "$tmp/af3.err" |
	grep -q '"level":"warn"' && ok ||
	bad "log line of a refused rotation (a warning): $(grep 'keys.rotate' "$tmp/af3.err")"
grep 'actor=helpdesk action=push.queue target=- status=200' "$tmp/af3.err" |
	grep -q '"level":"info"' && ok ||
	bad "push/queue names no target: $(grep 'push.queue' "$tmp/af3.err")"
kill -TERM "$pid"
wait "$pid"
pid=

# --check-config reads the state file as a start would replay it, and
# writes nothing: a damaged record with records after it is refused with
# its offset, before a restart would meet it.
expect check-state-ok 0 "$BIN/authflow" --check-config "$tmp/af3.json"
cp -p "$tmp/state3/store.aof" "$tmp/aof.good"
printf '\377' | dd of="$tmp/state3/store.aof" bs=1 seek=70 conv=notrunc status=none
cp -p "$tmp/state3/store.aof" "$tmp/aof.bad"
expect check-state-corrupt 1 "$BIN/authflow" --check-config "$tmp/af3.json"
grep -q "af3.json: state_dir: state file .*store.aof is corrupt at byte offset 8 " "$tmp/err" && ok ||
	bad "corrupt state file named by the check: $(cat "$tmp/err")"
cmp -s "$tmp/state3/store.aof" "$tmp/aof.bad" && ok || bad "the check wrote to the state file"
cp -p "$tmp/aof.good" "$tmp/state3/store.aof"

# ... and checks the signing key ring it holds as a start would: a ring
# that is no longer JSON (one record appended, as the store writes them)
# is said in the start's words, and the file is left as it was.
node -e '
const fs = require("fs"), crypto = require("crypto");
const key = Buffer.from("authflow:keys:ring"), data = Buffer.from("{\"keys\":[{\"kid\"");
const body = Buffer.alloc(1 + 8 + 4 + key.length + 4 + data.length);
let o = body.writeUInt8(1, 0) + 8;
o = body.writeUInt32LE(key.length, o); o += key.copy(body, o);
o = body.writeUInt32LE(data.length, o); data.copy(body, o);
const head = Buffer.alloc(8);
head.writeUInt32LE(body.length, 0); head.writeUInt32LE(~body.length >>> 0, 4);
const sum = crypto.createHash("sha256").update(body).digest();
fs.appendFileSync(process.argv[1], Buffer.concat([head, sum, body]));
' "$tmp/state3/store.aof"
cp -p "$tmp/state3/store.aof" "$tmp/aof.bad"
expect check-state-ring 1 "$BIN/authflow" --check-config "$tmp/af3.json"
[ "$(wc -l <"$tmp/err")" -eq 1 ] &&
	grep -q "af3.json: signing keys: the key ring in the store is damaged (not a JSON object): restore the store from a backup" "$tmp/err" && ok ||
	bad "damaged key ring named by the check: $(cat "$tmp/err")"
cmp -s "$tmp/state3/store.aof" "$tmp/aof.bad" && ok || bad "the ring check wrote to the state file"
expect start-ring 1 "$BIN/authflow" --config "$tmp/af3.json"
grep -q "af3.json: signing keys: the key ring in the store is damaged (not a JSON object)" "$tmp/err" && ok ||
	bad "a start says it in the same words: $(cat "$tmp/err")"
cp -p "$tmp/aof.good" "$tmp/state3/store.aof"
expect check-state-ring-good 0 "$BIN/authflow" --check-config "$tmp/af3.json"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

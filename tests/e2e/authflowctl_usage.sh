#!/bin/sh
# authflowctl's command-line contract where no server is needed: every
# malformed command line exits 2 with exactly one line on stderr and
# nothing on stdout; a server that cannot be reached exits 3 with one
# line; --help prints the usage on stdout and exits 0. The token given
# never shows up in any output.
#
#   authflowctl_usage.sh AUTHFLOWCTL
set -u

C=$1
# Port 1 on loopback: nothing listens there, so connecting fails at once.
DEAD=http://127.0.0.1:1
TOKEN=usage-test-token-0123456789
pass=0
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unset AUTHFLOW_URL AUTHFLOW_ADMIN_TOKEN

ok() { pass=$((pass + 1)); }
bad() {
	fail=$((fail + 1))
	echo "FAIL $*" >&2
	sed 's/^/  stderr: /' "$tmp/err" >&2
}

run() { # run STDIN_FILE ARGS...: the status in $rc, output in $tmp
	input=$1
	shift
	"$C" "$@" <"$input" >"$tmp/out" 2>"$tmp/err"
	rc=$?
}

# expect NAME WANT_STATUS -- ARGS...: exactly one line on stderr, starting
# "authflowctl: ", nothing on stdout, no token anywhere.
expect() {
	name=$1 want=$2
	shift 3
	run /dev/null "$@"
	check_one_line "$name" "$want"
}

# expect_msg NAME WANT_STATUS PATTERN -- ARGS...: as expect, and the line
# on stderr matches the grep pattern PATTERN (it says what is wrong).
expect_msg() {
	name=$1 want=$2 pattern=$3
	shift 4
	run /dev/null "$@"
	check_one_line "$name" "$want"
	if grep -q -- "$pattern" "$tmp/err"; then ok; else
		bad "$name: stderr does not say '$pattern'"
	fi
}

check_one_line() {
	lines=$(wc -l <"$tmp/err")
	if [ "$rc" -ne "$2" ]; then
		bad "$1: status $rc, want $2"
	elif [ "$lines" -ne 1 ]; then
		bad "$1: $lines lines on stderr, want 1"
	elif ! grep -q '^authflowctl: ' "$tmp/err"; then
		bad "$1: stderr does not start with 'authflowctl: '"
	elif [ -s "$tmp/out" ]; then
		bad "$1: something on stdout"
	elif grep -q "$TOKEN" "$tmp/out" "$tmp/err"; then
		bad "$1: the token was printed"
	else
		ok
	fi
}

# --- global options and commands ---
expect no-args 2 --
expect unknown-cmd 2 -- frob
expect unknown-opt 2 -- --frob status
expect url-no-value 2 -- --url
expect token-no-value 2 -- status --token
expect bad-scheme 2 -- --url ftp://example.org --token "$TOKEN" status
expect bad-url-query 2 -- --url "http://h/?x=1" --token "$TOKEN" status
expect bad-url-empty 2 -- --url "" --token "$TOKEN" status
# The token goes in clear text over http://: only to this host.
expect_msg plain-remote 2 'in clear text to another host' -- \
	--url http://192.0.2.1:8080 --token "$TOKEN" status
expect_msg plain-remote-name 2 'use https://' -- \
	--url http://idp.example.org --token "$TOKEN" status
expect plain-localhost 3 -- --url http://localhost:1 --token "$TOKEN" status
expect plain-v6-loopback 3 -- --url "http://[::1]:1" --token "$TOKEN" status
expect token-space 2 -- --token "a b" status
# The limit, not the character set, is what a long token breaks.
expect_msg token-too-long 2 'too long (at most 4096 bytes)' -- --url "$DEAD" \
	--token "$(head -c 5000 /dev/zero | tr '\0' t)" status
# A proxy that cannot be reached is named as the likely address.
https_proxy=http://127.0.0.1:1 "$C" --url https://127.0.0.1:1 --token "$TOKEN" status \
	</dev/null >"$tmp/out" 2>"$tmp/err"
rc=$?
check_one_line proxy-named 3
grep -q "https_proxy names a proxy" "$tmp/err" && ok || bad "proxy-named: $(cat "$tmp/err")"
# Plain http (this host only) never goes through one: the token would
# cross to it in clear text.
http_proxy=http://127.0.0.1:1 all_proxy=http://127.0.0.1:1 "$C" --url "$DEAD" \
	--token "$TOKEN" status </dev/null >"$tmp/out" 2>"$tmp/err"
rc=$?
check_one_line plain-not-proxied 3
grep -q "names a proxy" "$tmp/err" && bad "plain-not-proxied: $(cat "$tmp/err")" || ok
expect token-max-length 3 -- --url "$DEAD" \
	--token "$(head -c 4096 /dev/zero | tr '\0' t)" status
expect_msg url-port-big 2 'port must be a number from 1 to 65535' -- \
	--url http://127.0.0.1:99999 --token "$TOKEN" status
expect_msg url-port-zero 2 'port must be a number from 1 to 65535' -- \
	--url http://127.0.0.1:0 --token "$TOKEN" status
expect_msg url-port-text 2 'port must be a number from 1 to 65535' -- \
	--url http://127.0.0.1:http --token "$TOKEN" status
expect no-token 2 -- --url "$DEAD" status
expect typo-token 2 -- "--tokn=$TOKEN" status
expect status-extra 2 -- --token "$TOKEN" status now
expect status-unknown-opt 2 -- --token "$TOKEN" status --frob
expect newline-in-arg 2 -- user "fr
ob"

# --- users ---
expect user-no-verb 2 -- user
expect user-bad-verb 2 -- user frob
expect user-add-no-name 2 -- user add
expect user-add-two-names 2 -- user add alice bob
expect user-add-unknown 2 -- user add alice --frob
expect user-add-no-value 2 -- user add alice --name
expect user-add-ev-value 2 -- user add alice --email-verified=on
expect user-add-bad-utf8 2 -- user add alice --name "$(printf 'a\377b')"
expect user-set-nothing 2 -- user set alice
expect user-set-ON 2 -- user set alice --enabled ON
expect user-set-yes 2 -- user set alice --enabled yes
expect user-set-empty 2 -- user set alice --email-verified ""
expect user-set-no-name 2 -- user set --enabled on
expect user-show-no-name 2 -- user show
expect user-show-extra 2 -- user show a b
expect user-show-empty 2 -- --token "$TOKEN" user show ""
expect user-list-extra 2 -- user list x
expect user-list-days-0 2 -- user list --inactive-days 0
expect user-list-days-big 2 -- user list --inactive-days 36501
expect user-list-days-word 2 -- user list --inactive-days ninety
expect user-list-days-twice 2 -- user list --inactive-days 30 --inactive-days 9
expect user-remove-no-name 2 -- user remove
expect user-unlock-no-name 2 -- user unlock
expect user-passwd-no-name 2 -- user passwd
expect user-passwd-unknown 2 -- user passwd alice --password
expect user-name-too-long 2 -- --token "$TOKEN" user show "$(head -c 9000 /dev/zero | tr '\0' a)"

# --- groups, OUs, policies ---
expect group-add-no-name 2 -- group add
expect group-add-no-desc 2 -- group add g --description
expect_msg group-member-one-arg 2 'group add-member: missing USER (see' -- group add-member g
expect_msg sessions-end-one-no-sid 2 'sessions end-one: missing SID (see' -- sessions end-one alice
expect_msg sessions-end-one-none 2 'sessions end-one: missing USER and SID (see' -- sessions end-one
expect group-member-three-args 2 -- group remove-member g u v
expect ou-add-option 2 -- ou add emea --description x
expect ou-member-one-arg 2 -- ou add-member emea
expect ou-bad-verb 2 -- ou set emea
expect policy-add-no-remote 2 -- policy add p --sso on
expect policy-add-no-sso 2 -- policy add p --remote-access off
expect policy-add-bad-onoff 2 -- policy add p --sso yes --remote-access on
expect policy-set-nothing 2 -- policy set p
expect policy-add-nm-only 2 -- policy add p --sso on --number-matching off
expect policy-set-bad-nm 2 -- policy set p --number-matching yes
expect policy-assign-none 2 -- policy assign p
expect policy-assign-two 2 -- policy assign p --user a --group g
expect policy-unassign-no-name 2 -- policy unassign --ou o

# --- apps ---
expect app-add-no-name 2 -- app add --redirect-uri https://rp.example/cb
expect app-add-no-uri 2 -- app add --name rp
expect app-add-positional 2 -- app add rp --name rp --redirect-uri u
expect app-add-bad-claim 2 -- app add --name rp --redirect-uri u --claim x
expect app-add-empty-claim 2 -- app add --name rp --redirect-uri u --claim x=
expect app-add-dup-claim 2 -- app add --name rp --redirect-uri u \
	--claim a=email --claim a=name
expect app-add-flag-value 2 -- app add --name rp --redirect-uri u --allow-refresh=on
expect app-set-nothing 2 -- app set rp
expect_msg app-set-claims-and-none 2 '--no-claims and --claim together' -- \
	app set rp --claim a=email --no-claims
expect_msg app-set-none-and-claims 2 '--no-claims and --claim together' -- \
	app set rp --no-claims --claim a=email
expect app-set-bad-onoff 2 -- app set rp --allow-refresh true
expect app-set-grace-high 2 -- app set rp --refresh-grace 61
expect app-add-grace-word 2 -- app add --name rp --redirect-uri u --refresh-grace 30s
expect app-show-no-id 2 -- app show
expect app-deploy-nothing 2 -- app deploy rp
expect app-deploy-all-and-user 2 -- app deploy rp --all --user a
expect app-undeploy-no-id 2 -- app undeploy --all
expect app-rotate-extra 2 -- app rotate-secret rp x
expect_msg app-rotate-keep-word 2 'up to 30d' -- app rotate-secret rp --keep-previous soon
expect app-rotate-keep-no-id 2 -- app rotate-secret --keep-previous 1h
expect app-drop-previous-no-id 2 -- app drop-previous-secret
expect app-drop-previous-extra 2 -- app drop-previous-secret rp x

# --- keys, sessions, audit ---
expect keys-no-verb 2 -- keys
expect keys-bad-verb 2 -- keys delete
expect keys-status-extra 2 -- keys status now
expect sessions-list-no-user 2 -- sessions list
expect sessions-end-extra 2 -- sessions end a b
expect audit-limit-0 2 -- audit --limit 0
expect audit-limit-big 2 -- audit --limit 1001
expect audit-limit-text 2 -- audit --limit ten
expect audit-limit-space 2 -- audit --limit " 5"
expect audit-extra 2 -- audit now
expect audit-since-bad 2 -- audit --since yesterday
expect audit-since-now 2 -- audit --since 0
expect audit-since-no-day 2 -- audit --since 2026-02-30
expect audit-until-bad 2 -- audit --until "2026-12-01 08:00"
expect audit-actor-empty 2 -- audit --actor ""
expect audit-user-empty 2 -- audit --user ""

# --- workflow, devices, push queue ---
expect workflow-no-verb 2 -- workflow
expect workflow-bad-verb 2 -- workflow frob
expect workflow-show-extra 2 -- workflow show now
expect workflow-set-nothing 2 -- workflow set
expect workflow-set-positional 2 -- workflow set x --legacy on
expect workflow-set-bad-onoff 2 -- workflow set --number-matching yes
expect workflow-set-legacy-ON 2 -- workflow set --legacy ON
expect workflow-set-no-value 2 -- workflow set --legacy
expect workflow-set-unknown 2 -- workflow set --frob on
expect workflow-set-eap-empty 2 -- workflow set --enroll-after-password ""
expect workflow-set-limit-empty 2 -- workflow set --push-limit ''
expect workflow-set-limit-no-count 2 -- workflow set --push-limit /5m
expect workflow-set-limit-count-zero 2 -- workflow set --push-limit 0
expect workflow-set-limit-no-unit 2 -- workflow set --push-limit 3/300
expect workflow-set-limit-zero 2 -- workflow set --push-limit 0/5m
# The server's ranges, checked before anything is sent, and said.
expect_msg workflow-set-limit-ranges 2 'COUNT 1\.\.100.*10\.\.86400 seconds' -- \
	workflow set --push-limit 0/5m
expect_msg workflow-set-limit-over 2 'COUNT 1\.\.100' -- --url "$DEAD" \
	--token "$TOKEN" workflow set --push-limit 101/5m
expect_msg workflow-set-limit-short 2 '10\.\.86400 seconds' -- --url "$DEAD" \
	--token "$TOKEN" workflow set --push-limit 3/9s
expect_msg workflow-set-limit-long 2 '10\.\.86400 seconds' -- --url "$DEAD" \
	--token "$TOKEN" workflow set --push-limit 3/2d
expect workflow-set-limit-max 3 -- --url "$DEAD" --token "$TOKEN" \
	workflow set --push-limit 100/1d
expect workflow-set-limit-min 3 -- --url "$DEAD" --token "$TOKEN" \
	workflow set --push-limit 1/10s
expect workflow-set-limit-zero-period 2 -- workflow set --push-limit 3/0s
expect workflow-set-limit-sign 2 -- workflow set --push-limit +3/5m
expect workflow-set-limit-two-slashes 2 -- workflow set --push-limit 3/5m/1
expect workflow-set-limit-off 2 -- workflow set --push-limit 3/off
expect workflow-set-pause-zero 3 -- --url "$DEAD" --token "$TOKEN" \
	workflow set --report-pause 0
expect keys-rotate-after-zero 3 -- --url "$DEAD" --token "$TOKEN" \
	keys rotate --after 0
expect_msg keys-rotate-after-bare 2 "such as 10m or 1h, not '90'" -- \
	keys rotate --after 90
# Sooner than relying parties may keep /jwks: refused before any call.
expect_msg keys-rotate-after-short 2 "from 5m (relying parties may keep /jwks that long)" -- \
	keys rotate --after 299s
expect keys-rotate-after-5m 3 -- --url "$DEAD" --token "$TOKEN" \
	keys rotate --after 5m
expect workflow-set-pause-unit 2 -- workflow set --report-pause 5x
expect workflow-set-pause-bare 2 -- workflow set --report-pause 300
expect workflow-set-pause-negative 2 -- workflow set --report-pause -5m
expect workflow-set-pause-space 2 -- workflow set --report-pause " 5m"
expect workflow-set-pause-OFF 2 -- workflow set --report-pause OFF
expect workflow-set-pause-huge 2 -- workflow set --report-pause 99999999999s
expect workflow-set-version-bare 2 -- workflow set --min-app-version ios
expect workflow-set-version-platform 2 -- workflow set --min-app-version win=1.0
expect workflow-set-version-dots 2 -- workflow set --min-app-version ios=2023..1
expect workflow-set-version-letters 2 -- workflow set --min-app-version ios=2023.2b
expect workflow-set-version-twice 2 -- workflow set --min-app-version ios=1,ios=2
expect workflow-set-version-trailing 2 -- workflow set --min-app-version ios=1,
expect workflow-set-version-empty 2 -- workflow set --min-app-version ""
expect device-no-verb 2 -- device
expect device-bad-verb 2 -- device add alice
expect device-code-no-user 2 -- device enroll-code
expect device-code-two-users 2 -- device enroll-code alice bob
expect device-code-unknown 2 -- device enroll-code alice --qr
expect device-code-json-value 2 -- device enroll-code alice --json=yes
expect device-code-empty 2 -- --token "$TOKEN" device enroll-code ""
expect device-list-no-user 2 -- device list
expect device-list-extra 2 -- device list alice bob
expect device-remove-no-id 2 -- device remove
expect device-remove-extra 2 -- device remove a b
expect push-no-verb 2 -- push
expect push-bad-verb 2 -- push send
expect push-queue-limit-0 2 -- push queue --limit 0
expect push-queue-limit-big 2 -- push queue --limit 1001
expect push-queue-limit-text 2 -- push queue --limit all
expect push-queue-extra 2 -- push queue now
expect dead-workflow-set 3 -- --url "$DEAD" --token "$TOKEN" workflow set \
	--push-limit 3/5m --report-pause off --min-app-version ios=2023.2,android=2023.1
expect dead-enroll-code 3 -- --url "$DEAD" --token "$TOKEN" device enroll-code alice
expect dead-push-queue 3 -- --url "$DEAD" --token "$TOKEN" push queue --limit 5

# --- passwords: refused before anything is sent ---
printf '' >"$tmp/empty"
run "$tmp/empty" --url "$DEAD" --token "$TOKEN" user passwd alice --password-stdin
check_one_line passwd-empty-stdin 2
printf '\n' >"$tmp/blank"
run "$tmp/blank" --url "$DEAD" --token "$TOKEN" user passwd alice
check_one_line passwd-blank-line 2
head -c 1025 /dev/zero | tr '\0' p >"$tmp/long"
run "$tmp/long" --url "$DEAD" --token "$TOKEN" user passwd alice --password-stdin
check_one_line passwd-too-long 2
run "$tmp/long" --url "$DEAD" --token "$TOKEN" user add alice --password-stdin
check_one_line user-add-password-too-long 2
# Exactly 1024 bytes are fine: the request is made and cannot connect.
head -c 1024 /dev/zero | tr '\0' p >"$tmp/max"
run "$tmp/max" --url "$DEAD" --token "$TOKEN" user passwd alice --password-stdin
check_one_line passwd-max-length 3
# Without a token the password is not even read.
run "$tmp/max" --url "$DEAD" user passwd alice --password-stdin
check_one_line passwd-no-token 2
# --password-stdin on a terminal: a prompt, the line typed without echo
# once the prompt shows, and on at once (no wait for the end of input
# after it: the input stays open until the command has ended).
if command -v script >/dev/null 2>&1; then
	mkfifo "$tmp/tty.in"
	timeout 10 script -qec "'$C' --url $DEAD --token $TOKEN user add tty --password-stdin" /dev/null <"$tmp/tty.in" >"$tmp/tty" 2>&1 &
	spid=$!
	exec 3>"$tmp/tty.in"
	i=0
	until grep -q 'Password: ' "$tmp/tty" || [ "$i" -gt 400 ]; do
		i=$((i + 1))
		sleep 0.05
	done
	sleep 0.2
	printf 'typed-on-a-tty-1\n' >&3
	wait "$spid"
	exec 3>&-
	if grep -q '^Password: ' "$tmp/tty" && grep -q 'cannot reach the server' "$tmp/tty" &&
		! grep -q 'typed-on-a-tty-1' "$tmp/tty"; then
		ok
	else
		fail=$((fail + 1))
		echo "FAIL password-stdin on a terminal:" >&2
		sed 's/^/  /' "$tmp/tty" >&2
	fi
fi
# One line only: of "a\nb\n" neither line is taken, before anything is
# sent (exit 2, not 3); a single line end (LF or CR LF) is fine.
for text in 'a\nb\n' 'a\nb' 'a\r\nb\r\n' 'a\n\nb\n'; do
	# shellcheck disable=SC2059
	printf "$text" >"$tmp/lines"
	run "$tmp/lines" --url "$DEAD" --token "$TOKEN" user passwd alice --password-stdin
	check_one_line "passwd-lines-$text" 2
	grep -q 'more than one line' "$tmp/err" && ok || bad "passwd-lines-$text: not said"
	run "$tmp/lines" --url "$DEAD" --token "$TOKEN" user add alice --password-stdin
	check_one_line "user-add-lines-$text" 2
	# Standard input that is not a terminal is read the same way.
	run "$tmp/lines" --url "$DEAD" --token "$TOKEN" user passwd alice
	check_one_line "passwd-pipe-lines-$text" 2
done
for text in 'a\n' 'a\r\n' 'a'; do
	# shellcheck disable=SC2059
	printf "$text" >"$tmp/lines"
	run "$tmp/lines" --url "$DEAD" --token "$TOKEN" user passwd alice --password-stdin
	check_one_line "passwd-one-line-$text" 3
done

# --- a server that cannot be reached ---
expect dead-status 3 -- --url "$DEAD" --token "$TOKEN" status
expect dead-user-list 3 -- --url "$DEAD" --token "$TOKEN" --json user list
expect dead-app-add 3 -- --url "$DEAD" --token "$TOKEN" app add --name rp \
	--redirect-uri https://rp.example/cb
AUTHFLOW_URL=$DEAD AUTHFLOW_ADMIN_TOKEN=$TOKEN run /dev/null group list
check_one_line dead-from-env 3
# The flag wins over the environment.
AUTHFLOW_URL=ftp://bad run /dev/null --url "$DEAD" --token "$TOKEN" audit
check_one_line flag-beats-env 3

# --- help ---
# The whole usage: every group, and the exit statuses.
for args in "--help" "-h" "help"; do
	# shellcheck disable=SC2086
	run /dev/null $args
	if [ "$rc" -eq 0 ] && [ ! -s "$tmp/err" ] &&
		grep -q '^usage: authflowctl' "$tmp/out" &&
		grep -q 'app deploy' "$tmp/out" &&
		grep -q 'device enroll-code' "$tmp/out" &&
		grep -q '^reach the server, 4 not found, 5 already there' "$tmp/out" &&
		grep -q 'exits 6 when the server reports its store down' "$tmp/out"; then
		ok
	else
		bad "help '$args': status $rc"
	fi
done
# One group's usage: its lines and no other group's, wherever --help is
# on the command line; "help GROUP" the same.
for args in "user --help:user:app deploy" "app add --help:app:user add" \
	"audit -h:audit:device enroll-code" "workflow --help:workflow:user add" \
	"workflow set --help:workflow:app add" \
	"device enroll-code -h:device:workflow set" \
	"device rename X --help:device:user add" "help push:push:device" \
	"push queue --help:push:audit" "help status:status:user"; do
	cmd=${args%%:*}
	rest=${args#*:}
	group=${rest%%:*}
	other=${rest#*:}
	# shellcheck disable=SC2086
	AUTHFLOW_URL=ftp://bad run /dev/null $cmd
	if [ "$rc" -eq 0 ] && [ ! -s "$tmp/err" ] &&
		grep -q "^usage: authflowctl .*\] $group \.\.\.\$" "$tmp/out" &&
		grep -q "^  $group" "$tmp/out" &&
		! grep -q "^  $other" "$tmp/out" &&
		grep -q '^Exit status: ' "$tmp/out"; then
		ok
	else
		bad "help '$cmd': status $rc: $(head -3 "$tmp/out")"
	fi
done
expect help-unknown 2 -- help nothing
grep -q "help: unknown command 'nothing'" "$tmp/err" && ok ||
	bad "help names the unknown command"
expect help-two 2 -- help user app
expect help-unknown-group 2 -- nothing --help
# A refused option points at its group's usage.
expect hint-group 2 -- --url "$DEAD" --token "$TOKEN" workflow set --bogus
grep -q "(see 'authflowctl workflow --help')" "$tmp/err" && ok ||
	bad "a refused option points at the group's usage"

# --version: one line with the version, no server needed (a bad URL in
# the environment is no error).
AUTHFLOW_URL=http://remote.example run /dev/null --version
if [ "$rc" -eq 0 ] && [ ! -s "$tmp/err" ] &&
	grep -Eqx 'authflowctl [0-9]+\.[0-9]+\.[0-9]+' "$tmp/out" &&
	[ "$(wc -l <"$tmp/out")" -eq 1 ]; then
	ok
else
	bad "--version: status $rc: $(cat "$tmp/out" "$tmp/err")"
fi

# Help needs no server: a bad URL or token in the environment is no error.
AUTHFLOW_URL=http://remote.example AUTHFLOW_ADMIN_TOKEN='not a token' \
	run /dev/null help
if [ "$rc" -eq 0 ] && [ ! -s "$tmp/err" ] &&
	grep -q '^usage: authflowctl' "$tmp/out"; then
	ok
else
	bad "help with a bad environment: status $rc"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

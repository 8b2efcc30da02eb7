#!/bin/sh
# idsim's command-line contract where no server is needed: every
# malformed command line exits 2 with exactly one line on stderr and
# nothing on stdout; a state file that is missing, too open (0644), a
# symbolic link or malformed is refused the same way; a server that
# cannot be reached exits 3 with one line, and enroll then writes no
# state file; `code` prints the six digits oathtool computes; --help
# prints the usage on stdout and exits 0.
#
#   idsim_usage.sh IDSIM
set -u

I=$1
# Port 1 on loopback: nothing listens there, so connecting fails at once.
DEAD=http://127.0.0.1:1
SECRET=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP
pass=0
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ok() { pass=$((pass + 1)); }
bad() {
	fail=$((fail + 1))
	echo "FAIL $*" >&2
	sed 's/^/  stderr: /' "$tmp/err" >&2
	sed 's/^/  stdout: /' "$tmp/out" >&2
}

run() { # run ARGS...: the status in $rc, output in $tmp
	"$I" "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
	rc=$?
}

# expect NAME WANT_STATUS -- ARGS...: exactly one line on stderr, starting
# "idsim: ", nothing on stdout.
expect() {
	name=$1 want=$2
	shift 3
	run "$@"
	check_one_line "$name" "$want"
}

check_one_line() {
	lines=$(wc -l <"$tmp/err")
	if [ "$rc" -ne "$2" ]; then
		bad "$1: status $rc, want $2"
	elif [ "$lines" -ne 1 ]; then
		bad "$1: $lines lines on stderr, want 1"
	elif ! grep -q '^idsim: ' "$tmp/err"; then
		bad "$1: stderr does not start with 'idsim: '"
	elif [ -s "$tmp/out" ]; then
		bad "$1: something on stdout"
	else
		ok
	fi
}

# A state file as enroll writes it, with the key as PEM (also accepted),
# made with the openssl command line; the server URL is one that is dead.
make_state() { # make_state FILE
	openssl ecparam -name prime256v1 -genkey -noout -out "$tmp/key.pem" \
		2>/dev/null || {
		echo "openssl cannot make a P-256 key" >&2
		exit 1
	}
	pem=$(awk '{ printf "%s\\n", $0 }' "$tmp/key.pem")
	(
		umask 077
		printf '{"url":"%s","device_id":"dev-usage","private_key":"%s",' \
			"$DEAD" "$pem" >"$1"
		printf '"totp":{"secret":"%s","algorithm":"SHA1","digits":6,' \
			"$SECRET" >>"$1"
		printf '"period":30},"platform":"none"}\n' >>"$1"
	)
}

S=$tmp/phone.json
make_state "$S"
NEW=$tmp/new.json

# --- global options and commands ---
expect no-args 2 --
expect no-command 2 -- --state "$S"
expect unknown-cmd 2 -- --state "$S" frob
expect unknown-opt 2 -- --frob --state "$S" pending
expect url-no-value 2 -- --state "$S" --url
expect url-takes-option 2 -- --url --state "$S" pending
grep -q "^idsim: --url needs a value" "$tmp/err" && ok ||
	bad "--url followed by an option says it needs a value"
expect state-no-value 2 -- --state
expect no-state 2 -- pending
expect empty-state 2 -- --state "" pending
expect empty-url 2 -- --url "" --state "$S" pending
expect bad-scheme 2 -- --url ftp://example.org --state "$S" pending
expect bad-url-query 2 -- --url "http://h/?x=1" --state "$S" pending
expect newline-in-cmd 2 -- --state "$S" "pen
ding"

# --- enroll ---
expect enroll-no-code 2 -- --url "$DEAD" --state "$NEW" enroll
expect enroll-two-codes 2 -- --url "$DEAD" --state "$NEW" enroll a b
expect enroll-blank-code 2 -- --url "$DEAD" --state "$NEW" enroll "    "
# The code as pages show it, in groups with spaces: the server is asked.
run --url "$DEAD" --state "$NEW" enroll "ABCD EFGH IJKL MNOP" --platform none
[ "$rc" -eq 3 ] && ok || bad "enroll: a code with spaces is sent (status $rc)"
expect enroll-tab-code 2 -- --url "$DEAD" --state "$NEW" enroll "a	b"
expect enroll-empty-code 2 -- --url "$DEAD" --state "$NEW" enroll ""
expect enroll-no-url 2 -- --state "$NEW" enroll CODE
expect enroll-bad-platform 2 -- --url "$DEAD" --state "$NEW" enroll CODE \
	--platform sms
expect enroll-apns-no-token 2 -- --url "$DEAD" --state "$NEW" enroll CODE \
	--platform apns
expect enroll-fcm-no-token 2 -- --url "$DEAD" --state "$NEW" enroll CODE \
	--platform fcm
expect enroll-platform-no-value 2 -- --url "$DEAD" --state "$NEW" enroll \
	CODE --platform
expect enroll-sandbox-value 2 -- --url "$DEAD" --state "$NEW" enroll CODE \
	--sandbox=yes
expect enroll-unknown-opt 2 -- --url "$DEAD" --state "$NEW" enroll CODE \
	--frob
expect enroll-name-control 2 -- --url "$DEAD" --state "$NEW" enroll CODE \
	--name "$(printf 'a\tb')"
expect enroll-name-bad-utf8 2 -- --url "$DEAD" --state "$NEW" enroll CODE \
	--name "$(printf 'a\377b')"
expect enroll-empty-version 2 -- --url "$DEAD" --state "$NEW" enroll CODE \
	--app-version ""
expect enroll-token-space 2 -- --url "$DEAD" --state "$NEW" enroll CODE \
	--platform fcm --push-token "a b"
expect enroll-bad-url 2 -- --url "ftp://h" --state "$NEW" enroll CODE
expect enroll-state-exists 2 -- --url "$DEAD" --state "$S" enroll CODE
if [ -e "$NEW" ]; then bad "a refused enroll wrote $NEW"; else ok; fi

# --- challenges ---
expect pending-extra 2 -- --state "$S" pending now
expect pending-unknown-opt 2 -- --state "$S" pending --all
expect show-no-txn 2 -- --state "$S" show
expect show-two-txns 2 -- --state "$S" show a b
expect show-slash 2 -- --state "$S" show a/b
expect show-dotdot 2 -- --state "$S" show ..
expect show-query 2 -- --state "$S" show "a?b=c"
expect show-percent 2 -- --state "$S" show "a%2Fb"
expect show-too-long 2 -- --state "$S" show "$(head -c 129 /dev/zero | tr '\0' a)"
expect approve-no-txn 2 -- --state "$S" approve
expect approve-number-text 2 -- --state "$S" approve t1 --number ab
expect approve-number-empty 2 -- --state "$S" approve t1 --number ""
expect approve-number-sign 2 -- --state "$S" approve t1 --number -5
expect approve-number-long 2 -- --state "$S" approve t1 --number 1234567890
expect approve-number-no-value 2 -- --state "$S" approve t1 --number
expect approve-unknown-opt 2 -- --state "$S" approve t1 --report
expect deny-no-txn 2 -- --state "$S" deny --report
expect deny-report-value 2 -- --state "$S" deny t1 --report=yes
expect deny-extra 2 -- --state "$S" deny t1 t2
expect code-extra 2 -- --state "$S" code now
expect push-no-token 2 -- --state "$S" push-token
expect push-bad-platform 2 -- --state "$S" push-token T --platform sms
expect push-two-tokens 2 -- --state "$S" push-token T U

# --- state files that are refused ---
expect missing-state 2 -- --state "$tmp/none.json" pending
expect missing-state-code 2 -- --state "$tmp/none.json" code
cp "$S" "$tmp/open.json"
chmod 0644 "$tmp/open.json"
expect state-0644-pending 2 -- --state "$tmp/open.json" pending
if grep -q '0644' "$tmp/err"; then ok; else bad "state-0644: mode not named"; fi
expect state-0644-code 2 -- --state "$tmp/open.json" code
chmod 0640 "$tmp/open.json"
expect state-0640 2 -- --state "$tmp/open.json" code
chmod 0700 "$tmp/open.json"
expect state-0700 2 -- --state "$tmp/open.json" approve t1 --number 42
ln -s "$S" "$tmp/link.json"
expect state-symlink 2 -- --state "$tmp/link.json" code
expect state-folder 2 -- --state "$tmp" code
(umask 077 && printf '{"url":"%s"}\n' "$DEAD" >"$tmp/short.json")
expect state-incomplete 2 -- --state "$tmp/short.json" pending
(umask 077 && printf 'not json\n' >"$tmp/junk.json")
expect state-not-json 2 -- --state "$tmp/junk.json" code

# --- a server that cannot be reached ---
expect dead-enroll 3 -- --url "$DEAD" --state "$NEW" enroll CODE
if [ -e "$NEW" ]; then bad "dead-enroll wrote $NEW"; else ok; fi
expect dead-pending 3 -- --state "$S" pending
expect dead-show 3 -- --state "$S" show t1
expect dead-approve 3 -- --state "$S" approve t1 --number 42
expect dead-deny 3 -- --state "$S" deny t1 --report
expect dead-push 3 -- --state "$S" push-token T --platform fcm
# --url wins over the state file's URL.
expect url-beats-state 2 -- --url "ftp://h" --state "$S" pending
expect url-override-dead 3 -- --url "http://127.0.0.1:1/prefix/" --state "$S" pending

# --- the token code, offline, against oathtool ---
if command -v oathtool >/dev/null 2>&1; then
	for _ in 1 2 3; do
		want=$(oathtool --totp -b "$SECRET")
		run --state "$S" code
		again=$(oathtool --totp -b "$SECRET")
		# Retry when a 30 s step ended between the two readings.
		[ "$want" = "$again" ] && break
	done
	if [ "$rc" -eq 0 ] && [ ! -s "$tmp/err" ] &&
		[ "$(cat "$tmp/out")" = "$want" ] &&
		grep -qx '[0-9][0-9][0-9][0-9][0-9][0-9]' "$tmp/out"; then
		ok
	else
		bad "code: status $rc, printed '$(cat "$tmp/out")', oathtool '$want'"
	fi
fi

# --- help ---
for args in "--help" "-h" "help" "enroll --help" "approve -h" "pending --help"; do
	# shellcheck disable=SC2086
	run $args
	if [ "$rc" -eq 0 ] && [ ! -s "$tmp/err" ] &&
		grep -q '^usage: idsim' "$tmp/out" &&
		grep -q 'push-token T' "$tmp/out"; then
		ok
	else
		bad "help '$args': status $rc"
	fi
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

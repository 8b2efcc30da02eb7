#!/bin/sh
# The tokencode command as a user runs it: outputs, exit codes, and one
# clear line on stderr for every kind of bad input.
#
#   tokencode_cli.sh TOKENCODE
set -u

T=$1
S=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ # RFC 6238 SHA-1 seed
pass=0
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check() { # check NAME WANT_STATUS WANT_STDOUT -- ARGS...
	name=$1 want_rc=$2 want_out=$3
	shift 4
	"$T" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
	out=$(cat "$tmp/out")
	lines=$(wc -l <"$tmp/err")
	ok=1
	[ "$rc" -eq "$want_rc" ] || ok=0
	[ "$want_out" = "*" ] || [ "$out" = "$want_out" ] || ok=0
	# Errors are exactly one line on stderr; success prints nothing there.
	if [ "$want_rc" -eq 2 ]; then [ "$lines" -eq 1 ] || ok=0
	else [ "$lines" -eq 0 ] || ok=0; fi
	if [ "$ok" -eq 1 ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL $name: status $rc (want $want_rc), stdout '$out' (want '$want_out'), stderr:" >&2
		cat "$tmp/err" >&2
	fi
}

# said NAME PATTERN: the stderr line of the last check matches PATTERN.
said() {
	if grep -q -- "$2" "$tmp/err"; then pass=$((pass + 1)); else
		fail=$((fail + 1))
		echo "FAIL $1: stderr does not say '$2':" >&2
		cat "$tmp/err" >&2
	fi
}

check totp-rfc 0 94287082 -- totp --secret $S --time 59 --digits 8
check totp-6 0 287082 -- totp --secret $S --time 59
check totp-lower 0 287082 -- totp --secret "$(echo $S | tr A-Z a-z)" --time 59
check hotp-rfc 0 755224 -- hotp --secret $S --counter 0
check hotp-9 0 520489 -- hotp --secret $S --counter 9
check verify-ok 0 1 -- verify --secret $S --time 59 --code 287082
check verify-prev 0 0 -- verify --secret $S --time 31 --code 755224
check verify-window0 1 "" -- verify --secret $S --time 61 --code 755224 --window 0
check verify-bad 1 "" -- verify --secret $S --time 59 --code 000000
check uri 0 "otpauth://totp/Acme:alice?secret=$S&issuer=Acme&algorithm=SHA1&digits=6&period=30" \
	-- uri --secret $S --issuer Acme --account alice
check match-count 0 "*" -- match --count 5
check no-cmd 2 "" --
check bad-cmd 2 "" -- frobnicate
check bad-b32 2 "" -- totp --secret "GEZ1" --time 59
check empty-secret 2 "" -- totp --secret "" --time 59
check no-secret 2 "" -- totp --time 59
check digits-7 2 "" -- totp --secret $S --digits 7
check digits-x 2 "" -- totp --secret $S --digits x
check neg-time 2 "" -- totp --secret $S --time -5
check big-time 2 "" -- totp --secret $S --time 99999999999999999999999
check bad-algo 2 "" -- totp --secret $S --algo md5
check bad-step 2 "" -- totp --secret $S --step 0
check unknown-opt 2 "" -- totp --secret $S --frob
check extra-arg 2 "" -- totp --secret $S extra
check hotp-no-counter 2 "" -- hotp --secret $S
check verify-no-code 2 "" -- verify --secret $S
check verify-bad-code 2 "" -- verify --secret $S --code 12ab56
check window-big 2 "" -- verify --secret $S --code 123456 --window 11
# An option of another command is refused, not ignored.
check verify-counter 2 "" -- verify --secret $S --code 755224 --counter 0
said verify-counter-said '^tokencode: --counter does not apply to verify; see .tokencode --help.$'
check hotp-step 2 "" -- hotp --secret $S --counter 0 --step 60
check totp-counter 2 "" -- totp --secret $S --counter 5
check uri-time 2 "" -- uri --secret $S --issuer I --account a --time 5
check match-secret 2 "" -- match --secret $S
check match-zero 2 "" -- match --count 0
check match-digits-0 2 "" -- match --digits 0
said match-digits-0-said '^tokencode: match takes --digits 1 to 9$'
check match-digits-10 2 "" -- match --digits 10
said match-digits-10-said '^tokencode: match takes --digits 1 to 9$'
check digits-10 2 "" -- totp --secret $S --digits 10
check help-after-cmd 0 "*" -- totp --help
check help-top 0 "*" -- --help
check uri-colon 2 "" -- uri --secret $S --issuer "A:B" --account alice
check long-secret 2 "" -- totp --secret "$(head -c 400 /dev/zero | tr '\0' A)"
said long-secret 'secret is too long (at most 256 base32 characters)'
check long-secret-decoded 2 "" -- totp --secret "$(head -c 256 /dev/zero | tr '\0' A)"
said long-secret-decoded 'too long (at most 128 bytes decoded)'
check secret-no-value 2 "" -- totp --secret
said secret-no-value '^tokencode: --secret needs a value$'
check time-no-value 2 "" -- totp --secret $S --time
said time-no-value '^tokencode: --time needs a value$'
check unknown-opt-said 2 "" -- totp --secret $S --frob
said unknown-opt-said 'unknown option'

# Match codes: 2 digits by default, always 10..99.
"$T" match --count 2000 >"$tmp/m" 2>/dev/null
bad=$(awk '$1 < 10 || $1 > 99 || $1 !~ /^[0-9]+$/' "$tmp/m" | wc -l)
n=$(wc -l <"$tmp/m")
if [ "$n" -eq 2000 ] && [ "$bad" -eq 0 ]; then pass=$((pass + 1)); else
	fail=$((fail + 1)); echo "FAIL match-range: $n lines, $bad out of range" >&2; fi

# The secret can come from standard input instead of the process list.
out=$(echo $S | "$T" totp --secret - --time 59 2>/dev/null)
if [ "$out" = 287082 ]; then pass=$((pass + 1)); else
	fail=$((fail + 1)); echo "FAIL secret-stdin: '$out'" >&2; fi

# A secret line on stdin longer than the limit is said to be so.
head -c 400 /dev/zero | tr '\0' A >"$tmp/long"
"$T" totp --secret - <"$tmp/long" >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ "$rc" -eq 2 ] && [ ! -s "$tmp/out" ] && [ "$(wc -l <"$tmp/err")" -eq 1 ]; then
	said long-secret-stdin 'secret is too long (at most 256 base32 characters)'
else
	fail=$((fail + 1)); echo "FAIL long-secret-stdin: status $rc" >&2
fi

# One line of secret: a second line is refused, blank lines are not one.
printf '%s\nGARBAGE\n' "$S" | "$T" totp --secret - >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ "$rc" -eq 2 ] && [ ! -s "$tmp/out" ] && [ "$(wc -l <"$tmp/err")" -eq 1 ]; then
	said two-line-secret-stdin 'more than one line of secret'
else
	fail=$((fail + 1)); echo "FAIL two-line-secret-stdin: status $rc" >&2
fi
out=$(printf '%s\r\n\n' "$S" | "$T" totp --secret - --time 59 2>/dev/null)
if [ "$out" = 287082 ]; then pass=$((pass + 1)); else
	fail=$((fail + 1)); echo "FAIL secret-stdin-blank-line: '$out'" >&2; fi

# Two secrets: refused, not the last one taken.
"$T" totp --secret "$S" --secret "$S" >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ "$rc" -eq 2 ] && [ ! -s "$tmp/out" ]; then
	said secret-twice 'given twice'
else
	fail=$((fail + 1)); echo "FAIL secret-twice: status $rc" >&2
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

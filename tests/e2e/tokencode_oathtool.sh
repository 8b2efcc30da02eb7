#!/bin/sh
# Cross-checks the tokencode command against oathtool (OATH Toolkit) on many
# random secrets, times, digit counts, hashes and steps, for TOTP and HOTP,
# and checks that `tokencode verify` accepts oathtool's codes.
#
#   tokencode_oathtool.sh TOKENCODE [ROUNDS]
set -eu

TOKENCODE=$1
ROUNDS=${2:-300}

if ! command -v oathtool >/dev/null 2>&1; then
	echo "tokencode_oathtool: oathtool is missing (deploy/deps.sh installs it)" >&2
	exit 1
fi

# Random numbers come from one od call, read one per line from fd 3: two
# processes per number made most of this test's time.
nums=$(mktemp)
trap 'rm -f "$nums"' EXIT
od -An -v -N"$((ROUNDS * 12 * 4))" -tu4 /dev/urandom | tr -s ' ' '\n' |
	grep -v '^$' >"$nums"
exec 3<"$nums"

rand() { # rand MAX: a random number in 0..MAX-1
	read -r r <&3 || { echo "tokencode_oathtool: out of random numbers" >&2; exit 1; }
	echo $((r % $1))
}

secret() { # a random base32 secret of 10 to 64 bytes
	n=$(( $(rand 55) + 10 ))
	head -c "$n" /dev/urandom | base32 -w0 | tr -d '='
}

# This test compares arithmetic; tokencode_cli.sh runs every command with
# leak detection. Its scan at every exit was a third of this test's time.
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
export ASAN_OPTIONS

fail=0
i=0
while [ "$i" -lt "$ROUNDS" ]; do
	s=$(secret)
	t=$(( $(rand 2000000000) + $(rand 2000000000) ))
	case $(rand 3) in 0) algo=sha1 ;; 1) algo=sha256 ;; *) algo=sha512 ;; esac
	case $(rand 2) in 0) digits=6 ;; *) digits=8 ;; esac
	case $(rand 3) in 0) step=30 ;; 1) step=60 ;; *) step=$(( $(rand 300) + 1 )) ;; esac

	want=$(oathtool --totp="$algo" -b --digits="$digits" -s "${step}s" -N "@$t" "$s")
	got=$("$TOKENCODE" totp --secret "$s" --algo "$algo" --digits "$digits" \
		--step "$step" --time "$t")
	if [ "$want" != "$got" ]; then
		echo "MISMATCH totp secret=$s time=$t algo=$algo digits=$digits step=$step: oathtool=$want tokencode=$got" >&2
		fail=$((fail + 1))
	fi
	# The previous step's code verifies within the default window.
	prev=$(oathtool --totp="$algo" -b --digits="$digits" -s "${step}s" -N "@$((t - step))" "$s")
	if ! "$TOKENCODE" verify --secret "$s" --algo "$algo" --digits "$digits" \
		--step "$step" --time "$t" --code "$prev" >/dev/null; then
		echo "REFUSED verify of previous step secret=$s time=$t" >&2
		fail=$((fail + 1))
	fi

	c=$(rand 100000000)
	want=$(oathtool -b -c "$c" --digits="$digits" "$s")
	got=$("$TOKENCODE" hotp --secret "$s" --counter "$c" --digits "$digits")
	if [ "$want" != "$got" ]; then
		echo "MISMATCH hotp secret=$s counter=$c digits=$digits: oathtool=$want tokencode=$got" >&2
		fail=$((fail + 1))
	fi
	i=$((i + 1))
done

echo "tokencode_oathtool: $ROUNDS rounds, $fail mismatches"
[ "$fail" -eq 0 ]

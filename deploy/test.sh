#!/bin/sh
# Builds authflow with AddressSanitizer and UndefinedBehaviorSanitizer and
# runs every test: formatting, banned functions, clang-tidy, the unit and
# end-to-end tests under ctest, fuzz corpus replays, and a short bounded
# libFuzzer run of every fuzz target. Exits non-zero on the first failure.
#
#   deploy/test.sh            everything
#   FUZZ_SECONDS=N            seconds per fuzz target (default 10)
#   SKIP_TIDY=1               skip clang-tidy (for quick local runs)
set -eu

cd "$(dirname "$0")/.."
ROOT=$(pwd)
JOBS=${JOBS:-2}
FUZZ_SECONDS=${FUZZ_SECONDS:-10}

START=$(date +%s)
# A step's heading says when it began, in seconds since the start.
step() { printf '\n==> %s (at %ss)\n' "$*" "$(($(date +%s) - START))"; }

sources() { # our C sources and headers, tracked or new
	git ls-files -co --exclude-standard -- '*.c' '*.h' 2>/dev/null ||
		find include tokencode common authflow pushd tests \
			-name '*.[ch]' 2>/dev/null
}

step "build (asan-ubsan)"
cmake --preset asan-ubsan >/dev/null
cmake --build build/asan -j"$JOBS"

step "build (release, as the demo does: -O2 finds other warnings)"
cmake --preset release >/dev/null
cmake --build build -j"$JOBS"

step "format"
# shellcheck disable=SC2046
clang-format --dry-run --Werror $(sources)
echo "clang-format: clean"

step "banned functions"
BANNED='strcpy|strcat|sprintf|vsprintf|strncpy|strtok|atoi|atol|gets|rand|srand|sscanf|localtime|gmtime|strerror'
# shellcheck disable=SC2046
if grep -nE "(^|[^_a-zA-Z0-9.>])($BANNED)[[:space:]]*\(" $(sources) |
	grep -vE '^[^:]+:[0-9]+:[[:space:]]*(\*|/\*)'; then
	echo "banned functions used: use the bounded or thread-safe alternative (snprintf, strtoul with checks, af_errno_text, ...)" >&2
	exit 1
fi
echo "banned functions: none"

if [ "${SKIP_TIDY:-0}" != 1 ]; then
	step "clang-tidy"
	sources | grep '\.c$' |
		xargs -P "$JOBS" -n 1 clang-tidy -p build/asan --quiet 2>&1 |
		grep -vE '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$' |
		tee build/asan/tidy.log
	if grep -qE '(error|warning):' build/asan/tidy.log; then
		echo "clang-tidy found problems" >&2
		exit 1
	fi
	echo "clang-tidy: clean"
fi

step "relying-party test dependencies (npm)"
npm ci --prefix tests/e2e/rp --no-audit --no-fund --loglevel=error

step "ctest (unit, end-to-end, fuzz corpus replay)"
cd build/asan
ctest --output-on-failure -j"$JOBS"
cd "$ROOT"

step "fuzz (libFuzzer, ${FUZZ_SECONDS}s per target, $JOBS at a time)"
cmake --preset fuzz >/dev/null
cmake --build build/fuzz -j"$JOBS"

# One target for FUZZ_SECONDS on its corpus; 1 on a crash, with its log.
fuzz_one() {
	name=${1##*/fuzz_}
	work=build/fuzz/corpus/$name
	mkdir -p "$work"
	if "$1" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=0 "$work" "tests/fuzz/corpus/$name" \
		>"build/fuzz/$name.log" 2>&1; then
		echo "fuzz_$name: $(grep -c . "build/fuzz/$name.log") log lines, no crash"
	else
		tail -50 "build/fuzz/$name.log" >&2
		echo "fuzz target $name failed" >&2
		return 1
	fi
}

# Every JOBS-th target from the $1-th, one after another (each fuzzer is
# one thread: JOBS lanes keep the cores busy).
fuzz_lane() {
	i=0
	for f in build/fuzz/bin/fuzz_*; do
		if [ $((i % JOBS)) -eq "$1" ]; then
			fuzz_one "$f" || return 1
		fi
		i=$((i + 1))
	done
}

lanes=""
lane=0
while [ "$lane" -lt "$JOBS" ]; do
	fuzz_lane "$lane" &
	lanes="$lanes $!"
	lane=$((lane + 1))
done
failed=0
for pid in $lanes; do
	wait "$pid" || failed=1
done
[ "$failed" -eq 0 ] || exit 1

step "done"
echo "all tests passed"

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
expect group-set 0 "$C" group set staff --description "Everyone on the payroll"
grep -q '^description: Everyone on the payroll$' "$tmp/out" && ok || bad "group set shows the new description"
expect group-set-nothing 2 "$C" group set staff
expect group-set-missing 1 "$C" group set nogroup --description x
expect ou-add 0 "$C" ou add Finance
printf 'bobs-password-1\n' >"$tmp/pw"
expect user-add 0 sh -c "\"$C\" user add bob --name 'Bob Builder' --email bob@example.com --group staff --ou Finance --password-stdin <\"$tmp/pw\""
expect user-add-dup 1 sh -c "\"$C\" user add bob --password-stdin <\"$tmp/pw\""
# Every audit event is a log line too, whatever the level (the demo logs
# warnings only), for a collector that keeps more than the trail does.
grep '"level":"audit"' "$tmp/demo.err" | grep '"action":"user.add"' | grep '"target":"bob"' |
	grep -q '"stored":"true"' && ok || bad "audit event in the log"
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
expect app-set 0 "$C" --json app set "$cid" --name crm-renamed --claim dept=ous \
	--claim login=username --jwt-access-tokens on
grep -q '"name": "crm-renamed"' "$tmp/out" && grep -q '"dept": "ous"' "$tmp/out" &&
	grep -q '"access_token_format": "jwt"' "$tmp/out" && ok || bad "app set renames, maps claims, picks JWTs"
expect app-set-no-claims 0 "$C" --json app set "$cid" --no-claims --jwt-access-tokens off
grep -q '"claims": {}' "$tmp/out" && grep -q '"access_token_format": "opaque"' "$tmp/out" &&
	ok || bad "app set --no-claims"
expect app-set-both 2 "$C" app set "$cid" --claim a=sub --no-claims

expect keys-status 0 "$C" keys status
expect keys-rotate 0 "$C" keys rotate
n=$(curl -fs "$AUTHFLOW_URL/jwks" | grep -o '"kid"' | wc -l)
[ "$n" -ge 2 ] && ok || bad "jwks keeps the old key after rotation ($n kids)"

expect sessions 0 "$C" sessions list alice
expect unlock 0 "$C" user unlock bob
expect audit 0 "$C" audit --limit 5
grep -q "demo-admin" "$tmp/out" && ok || bad "audit names the actor"
grep -q '^SEQ  *TIME  *ACTOR  *ACTION  *TARGET  *DETAIL$' "$tmp/out" && ok || bad "audit table columns"
before=$(sed -n 's/^older: audit --before \([0-9]*\)$/\1/p' "$tmp/out")
[ -n "$before" ] && ok || bad "audit says where the older events start"
expect audit-before 0 "$C" --json audit --limit 1 --before "${before:-1}"
grep -q "\"seq\": $((${before:-1} - 1))," "$tmp/out" && ok || bad "audit --before pages back"
expect audit-before-bad 2 "$C" audit --before x

# Push MFA administration: workflow, enrollment codes, devices, queue.
expect workflow-show 0 "$C" workflow show
grep -q '^number_matching: on$' "$tmp/out" && ok || bad "workflow show"
expect workflow-set 0 "$C" workflow set --push-limit 5/10m --report-pause 1h \
	--min-app-version ios=2023.2
grep -q '^push_limit: 5/10m$' "$tmp/out" && grep -q '^report_pause: 1h$' "$tmp/out" &&
	grep -q '^min_app_version: ios=2023.2$' "$tmp/out" && ok || bad "workflow set output"
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
expect enroll-code-nobody 1 "$C" device enroll-code nobody
expect device-list 0 "$C" device list bob
grep -q '^DEVICE-ID  *NAME  *PLATFORM  *PUSH  *APP-VERSION  *CREATED  *LAST-SEEN$' "$tmp/out" &&
	ok || bad "device list header"
expect device-remove-missing 1 "$C" device remove AAAAAAAAAAAAAAAAAAAAAA
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
};
const s = require('http').createServer((q, r) => {
	const t = (q.headers.authorization || '').replace('Bearer ', '');
	r.writeHead(200, {'content-type': 'application/json'});
	r.end(bodies[t] || '{}');
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
kill "$mock" 2>/dev/null
wait "$mock" 2>/dev/null
expect user-remove 0 "$C" user remove bob

# The demo as a newcomer uses it: sign in at /demo and see the claims.
cj="$tmp/cookies"
loc=$(curl -s -c "$cj" -b "$cj" -o /dev/null -w '%{redirect_url}' "$AUTHFLOW_URL/demo/login")
# A second tab begins a sign-in too: the first one still finishes.
curl -s -c "$cj" -b "$cj" -o /dev/null "$AUTHFLOW_URL/demo/login"
loc=$(curl -s -c "$cj" -b "$cj" -o /dev/null -w '%{redirect_url}' "$loc")
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
curl -s -c "$cj" -b "$cj" "$cb" | grep -q "verified your id_token" && ok || bad "demo sign-in shows verified claims"

# SIGHUP stops nothing (the file is read only at start); SIGTERM stops
# it gracefully with status 0.
kill -HUP "$pid"
sleep 1
curl -fs "$AUTHFLOW_URL/healthz" >/dev/null && ok || bad "SIGHUP stopped the server"
grep -q '"event":"signal","msg":"SIGHUP: authflow reads its configuration only at start' "$tmp/demo.err" && ok ||
	bad "SIGHUP is not logged"
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
login=$(curl -s -c "$tmp/cj2" -b "$tmp/cj2" -o /dev/null -w '%{redirect_url}' "$loc")
case "$login" in
"http://127.0.0.1:$port2/login?"*) ok ;;
*) bad "demo on a new port: $loc led to '$login'" ;;
esac
kill -TERM "$pid"
wait "$pid"
pid=

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

// End-to-end: push MFA with number matching and the token-code fallback,
// with a real relying party (openid-client), the real server and idsim as
// the phone, on the store backend from AF_STORE.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import vm from 'node:vm';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as client from 'openid-client';
import { authRequest, BIN, Browser, ctl, discover, enrollPhone, freePort, shownEnrollCode, hiddenFields, idsim, isLoginForm, openAuthorize, pageNumber, seed, setCookies, signIn, sleep, startServer } from './lib.mjs';

const REDIRECT = 'http://127.0.0.1:9000/login/callback';
const STORE = process.env.AF_STORE ?? 'memory';

let server;
before(async () => { server = await startServer({ store: STORE }); });
after(async () => { await server.stop(); });

const rp = (s, srv = server) => discover(srv, s);
// One command to the suite's Redis (AF_STORE=redis only).
const redisCli = (...args) => execFileSync('redis-cli', ['-u', process.env.AF_TEST_REDIS_URL, ...args],
  { stdio: 'ignore' });
const authUrl = authRequest;

// A user with MFA on, an enrolled phone, and an app (on srv, the file's
// server unless another is named, as the helpers below).
async function mfaUser(name, phoneArgs = ['--platform', 'none', '--app-version', '2024.1'], srv = server) {
  const s = await seed(srv, { user: name, policy: { remote_access: true } });
  s.phone = await enrollPhone(srv, name, phoneArgs);
  s.config = await rp(s, srv);
  return s;
}

// Password step; returns { browser, a, mfaUrl, page } on the MFA page.
async function toMfa(s, browser = new Browser(), extra = {}, srv = server) {
  const a = await authUrl(s.config, extra);
  const r = await signIn(browser, srv.issuer, a.url.href, s.user, s.password);
  assert.equal(r.status, 303, r.text);
  const mfaUrl = new URL(r.location, srv.issuer).href;
  const page = await browser.get(mfaUrl);
  assert.equal(page.status, 200);
  // No timed refresh (it would wipe a code being typed); without script
  // a link goes on.
  assert.doesNotMatch(page.text, /http-equiv="refresh"/);
  // The token-code form's answer goes on to the application.
  assert.match(page.headers.get('content-security-policy'), /form-action 'self' http:\/\/127\.0\.0\.1:9000;/);
  return { browser, a, mfaUrl, page };
}

async function pendingTxn(s, srv = server) {
  const p = await idsim(srv, s.phone, ['pending']);
  assert.equal(p.code, 0, p.stderr);
  const lines = p.stdout.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, `one challenge: ${p.stdout}`);
  // TXN USER APP... number|nonumber: the app's name may hold spaces.
  const parts = lines[0].split(' ');
  return [parts[0], parts[1], parts.slice(2, -1).join(' '), parts[parts.length - 1]];
}

// Follows the status poll to the end and exchanges the code.
async function finish(s, m, srv = server) {
  const url = new URL(m.mfaUrl);
  const st = await m.browser.get(`${srv.issuer}/login/mfa/status?flow=${url.searchParams.get('flow')}`);
  const status = JSON.parse(st.text);
  assert.equal(status.state, 'approved');
  assert.ok(status.next);
  const done = await m.browser.get(new URL(status.next, srv.issuer).href);
  assert.equal(done.status, 302, done.text);
  return client.authorizationCodeGrant(s.config, new URL(done.location), {
    pkceCodeVerifier: m.a.verifier, expectedState: m.a.state, expectedNonce: m.a.nonce,
  });
}

// Opens /enroll, which makes no code, and posts its form as a browser
// would (to the form's action, with the fields read from the page):
// { page, answer }, the answer undefined when the page has no form.
async function enrollCode(b) {
  const page = await b.get(`${server.issuer}/enroll`);
  assert.doesNotMatch(page.text, /<svg|<code>/, 'a GET makes no code');
  const form = page.text.match(/<form method="post" action="([^"]+)">/);
  if (page.status !== 200 || !form) return { page };
  // The page's CSP lets the form post back to this server.
  assert.match(page.headers.get('content-security-policy'), /form-action 'self'[ ;]/);
  const action = new URL(form[1], `${server.issuer}/enroll`);
  assert.equal(action.origin, server.issuer);
  const answer = await b.post(action.href, hiddenFields(page.text));
  return { page, answer };
}

// Turns the second step of user's policy (seed()'s sso-USER) on or off.
function policyAsks(user, on, srv = server) {
  return srv.admin('PATCH', `/policies/sso-${user}`, { remote_access: on });
}

// The browser's status of the MFA step of m.
async function flowStatus(m) {
  const flow = new URL(m.mfaUrl).searchParams.get('flow');
  return JSON.parse((await m.browser.get(`${server.issuer}/login/mfa/status?flow=${flow}`)).text);
}

// authflow_mfa_total of one outcome on the server now.
async function mfaCount(outcome, srv = server) {
  const text = await (await fetch(`${srv.issuer}/metrics`)).text();
  const m = text.match(new RegExp(`^authflow_mfa_total\\{outcome="${outcome}"\\} (\\d+)$`, 'm'));
  return m ? Number(m[1]) : null;
}

// A phone of our own on the device API (node's crypto, not idsim), for
// requests idsim refuses to send: { id, call(method, target, body),
// prepare(method, target, body, skew) }. prepare signs a request stamped
// skew seconds from now and gives a function that sends it, as often as
// asked (a replay).
async function rawPhone(user, srv = server) {
  const ec = await srv.admin('POST', `/users/${user}/enroll-code`);
  assert.equal(ec.status, 201, ec.text);
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { kty, crv, x, y } = publicKey.export({ format: 'jwk' });
  const prepare = (method, target, body, device, skew = 0) => {
    const text = body === undefined ? '' : JSON.stringify(body);
    const ts = String(Math.floor(Date.now() / 1000) + skew);
    const nonce = randomBytes(18).toString('base64url');
    const hash = createHash('sha256').update(text).digest('hex');
    const sig = sign('sha256', Buffer.from(['AF-DEVICE-V1', method, target, ts, nonce, hash].join('\n')),
      { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
    const headers = { 'x-af-timestamp': ts, 'x-af-nonce': nonce, 'x-af-signature': sig };
    if (device) headers['x-af-device'] = device;
    if (body !== undefined) headers['content-type'] = 'application/json';
    return async () => {
      const r = await fetch(`${srv.issuer}${target}`, { method, headers, body: body === undefined ? undefined : text });
      const answer = await r.text();
      let json = null;
      try { json = JSON.parse(answer); } catch { /* not JSON */ }
      return { status: r.status, json, headers: r.headers };
    };
  };
  const e = await prepare('POST', '/device/v1/enroll',
    { code: ec.json.code, platform: 'none', public_key: { kty, crv, x, y }, app_version: '2024.1' })();
  assert.equal(e.status, 201, JSON.stringify(e.json));
  const id = e.json.device_id;
  return {
    id,
    call: (method, target, body) => prepare(method, target, body, id)(),
    prepare: (method, target, body, skew) => prepare(method, target, body, id, skew),
  };
}

describe(`push MFA (${STORE} store)`, () => {
  // The flow's "send another request" form: { fields, status } of its post.
  async function askAgain(m, page, srv = server) {
    assert.match(page.text, /<form method="post" action="\/login\/mfa\/push">/);
    const form = page.text.match(/<form method="post" action="\/login\/mfa\/push">(.*?)<\/form>/s)[1];
    return m.browser.post(`${srv.issuer}/login/mfa/push`, hiddenFields(form));
  }

  // The 30 s of the expiry test go by beside the rest of the group, on a
  // server of its own: this first test makes the sign-ins that wait,
  // the rest goes on by itself 31 s later, and the last test of the
  // group waits for it and reports what it found.
  let expiry; // { srv, done }
  after(async () => { await expiry?.srv.stop(); });
  test('a transaction expires after 30 seconds: the sign-ins that wait it out', async () => {
    const srv = await startServer({ store: STORE });
    expiry = { srv };
    // Two sign-ins wait out one 30 s: one asks the phone again, the
    // other, over the push limit by then (3 per 5 minutes), types a code.
    const s = await mfaUser('tess', undefined, srv);
    const a = await toMfa(s, new Browser(), {}, srv);
    const b = await toMfa(s, new Browser(), {}, srv);
    // A third, whose page is left at once: nobody reads its push again.
    const left = await mfaUser('tilda', undefined, srv);
    await toMfa(left, new Browser(), {}, srv);
    const [txnLeft] = await pendingTxn(left, srv);
    const numberA = pageNumber(a.page.text);
    const txnA = (await idsim(srv, s.phone, ['pending'])).stdout.split('\n').find((l) => l.length > 0).split(' ')[0];
    const expiredBefore = await mfaCount('expired', srv);
    const waited = Date.now() + 31000;
    const done = (async () => {
      await sleep(waited - Date.now());
      const late = await idsim(srv, s.phone, ['approve', txnA, '--number', numberA]);
      assert.equal(late.code, 1);
      assert.equal((await idsim(srv, s.phone, ['pending'])).stdout, '', 'nothing is pending');
      const pageB = await b.browser.get(b.mfaUrl);
      assert.match(pageB.text, /within 30 seconds/);
      assert.match(pageB.text, /<button type="submit">Send another request<\/button>/);
      assert.match(pageB.text, /<a href="\/login\?flow=[^"]+">Start again<\/a>/);
      assert.doesNotMatch(pageB.text, /http-equiv="refresh"/, 'nothing wipes a code being typed');
      // Each unanswered push is told of once, by whichever saw it first
      // (the late answer, a page), with where the sign-in came from.
      await a.browser.get(a.mfaUrl);
      await b.browser.get(b.mfaUrl);
      await idsim(srv, s.phone, ['approve', txnA, '--number', numberA]);
      const expired = (await srv.admin('GET', '/audit?limit=1000&action=mfa.expired')).json.events.filter((e) => e.target === 'tess');
      assert.equal(expired.length, 2, JSON.stringify(expired));
      assert.notEqual(expired[0].detail.txn, expired[1].detail.txn);
      assert.ok(expired.some((e) => e.detail.txn === txnA));
      for (const e of expired) {
        assert.equal(e.actor, 'authflow');
        assert.equal(e.detail.signin_ip, '127.0.0.1');
        assert.match(e.detail.app, /^af-/);
      }
      assert.ok((await mfaCount('expired', srv)) - expiredBefore >= 2, 'counted in the metrics');
      // The push left alone is told of all the same, once, by the server's
      // sweep a few seconds after it expired.
      let leftEvents = [];
      for (let i = 0; i < 40 && leftEvents.length === 0; i++) {
        leftEvents = (await srv.admin('GET', '/audit?limit=1000&action=mfa.expired&user=tilda')).json.events;
        if (leftEvents.length === 0) await sleep(250);
      }
      assert.equal(leftEvents.length, 1, JSON.stringify(leftEvents));
      assert.equal(leftEvents[0].detail.txn, txnLeft);
      assert.equal(leftEvents[0].actor, 'authflow');
      assert.equal(leftEvents[0].detail.signin_ip, '127.0.0.1');
      assert.ok((await mfaCount('expired', srv)) - expiredBefore >= 3, 'the swept one counted too');
      // Answered late after the sweep told of it: refused, and not told twice.
      assert.equal((await idsim(srv, left.phone, ['approve', txnLeft, '--number', '42'])).code, 1);
      assert.equal((await srv.admin('GET', '/audit?limit=1000&action=mfa.expired&user=tilda')).json.events.length, 1);
      // Another request: a new transaction with a new number, no password.
      const again = await askAgain(b, pageB, srv);
      assert.equal(again.status, 303, again.text);
      assert.equal(new URL(again.location, srv.issuer).href, b.mfaUrl);
      const shown = await b.browser.get(b.mfaUrl);
      const number = pageNumber(shown.text);
      assert.match(number ?? '', /^[1-9][0-9]$/, shown.text);
      const [txn] = await pendingTxn(s, srv);
      assert.notEqual(txn, txnA);
      // A second click while it is pending sends no second request.
      const twice = await askAgain(b, pageB, srv);
      assert.equal(twice.status, 303);
      await pendingTxn(s, srv);
      assert.equal(pageNumber((await b.browser.get(b.mfaUrl)).text), number);
      assert.equal((await idsim(srv, s.phone, ['approve', txn, '--number', number])).stdout, 'approved');
      const tokens = await finish(s, b, srv);
      assert.deepEqual(tokens.claims().amr, ['pwd', 'swk', 'mfa']);
      // The other sign-in's request would be the fourth in 5 minutes: none
      // is sent, the page says why, and the token code finishes.
      const pageA = await a.browser.get(a.mfaUrl);
      // The page offers no request that would not go, and says why.
      assert.match(pageA.text, /Nobody answered on the phone within 30 seconds\./);
      // The title says what happened first, as an error page's does.
      assert.match(pageA.text, /<title>Request expired: Enter your token code/);
      assert.doesNotMatch(pageA.text, /Send another request/);
      assert.doesNotMatch(pageA.text, /action="\/login\/mfa\/push"/);
      assert.match(pageA.text, /Too many sign-in requests were sent to your phone\. More can be sent in about \d+ minutes?/);
      // A form from before (another tab) asks anyway: nothing is sent.
      const fa = hiddenFields(pageA.text);
      const limited = await a.browser.post(`${srv.issuer}/login/mfa/push`, { flow: fa.flow, csrf: fa.csrf });
      assert.equal(limited.status, 303, limited.text);
      const code = await a.browser.get(a.mfaUrl);
      assert.equal(pageNumber(code.text), null);
      assert.match(code.text, /Too many sign-in requests were sent to your phone\. More can be sent in about \d+ minutes?/);
      assert.doesNotMatch(code.text, /action="\/login\/mfa\/push"/, 'no request can go yet');
      assert.equal((await idsim(srv, s.phone, ['pending'])).stdout, '');
      const f = hiddenFields(code.text);
      const coded = await a.browser.post(`${srv.issuer}/login/mfa/code`, { flow: f.flow, csrf: f.csrf, code: (await idsim(srv, s.phone, ['code'])).stdout });
      assert.equal(coded.status, 302, coded.text);
      assert.equal(new URL(coded.location).origin, 'http://127.0.0.1:9000');
      assert.equal((await srv.admin('POST', '/users/tess/unlock')).status, 200);
    })();
    done.catch(() => {}); // reported by the last test of the group
    expiry.done = done;
  });

  test('a copy of the sign-in cookie from before the password gets neither the number, the code nor the new-password step', async () => {
    const s = await mfaUser('fixed-flo');
    // Someone else's account, with a password its owner knows.
    const mal = await seed(server, { user: 'fixed-mal' });
    const victim = new Browser();
    const a = await authUrl(s.config);
    const o = await openAuthorize(victim, server.issuer, a.url.href);
    const flow = o.fields.flow;
    // Planted or copied before the password: the same binding cookie.
    const copy = new Browser();
    copy.jar = new Map(victim.jar);
    const name = [...victim.jar.keys()].find((k) => k.startsWith('af_flow_'));
    const form = { ...o.fields, username: s.user, password: s.password };
    const r = await victim.post(`${server.issuer}/login`, form);
    assert.equal(r.status, 303, r.text);
    assert.notEqual(victim.jar.get(name), copy.jar.get(name), 'bound anew after the password');
    const peek = await copy.get(`${server.issuer}/login/mfa/status?flow=${flow}`);
    assert.equal(peek.status, 404);
    assert.doesNotMatch(peek.text, /number/);
    assert.doesNotMatch((await copy.get(`${server.issuer}/login/mfa?flow=${flow}`)).text, /class="number"/);
    // The same form posted again at once (the first answer dropped, as
    // a double click does) goes on, bound as the first post was.
    const twice = new Browser();
    twice.jar = new Map(copy.jar);
    const again = await twice.post(`${server.issuer}/login`, form);
    assert.equal(again.status, 303, again.text);
    assert.equal(twice.jar.get(name), victim.jar.get(name));
    // Another account's right password, sent with the old cookie within
    // those seconds, is no double click: the sign-in is not handed over.
    const thief = new Browser();
    thief.jar = new Map(copy.jar);
    const stolen = await thief.post(`${server.issuer}/login`, { ...o.fields, username: mal.user, password: mal.password });
    assert.notEqual(stolen.status, 303, stolen.text);
    assert.notEqual(thief.jar.get(name), victim.jar.get(name), 'the victim\'s binding is not handed out');
    assert.doesNotMatch((await thief.get(`${server.issuer}/login/mfa?flow=${flow}`)).text, /class="number"/);
    const m = { browser: victim, a, mfaUrl: new URL(r.location, server.issuer).href };
    const number = (await flowStatus(m)).number;
    const [txn] = await pendingTxn(s);
    assert.equal((await idsim(server, s.phone, ['approve', txn, '--number', String(number)])).stdout, 'approved');
    const st = await copy.get(`${server.issuer}/login/mfa/status?flow=${flow}`);
    assert.equal(st.status, 404, 'the copy cannot finish');
    const t = await finish(s, m);
    assert.deepEqual(t.claims().amr, ['pwd', 'swk', 'mfa']);
    // Past the few seconds a double click takes, the old cookie is no
    // use even with the password.
    const late = new Browser();
    late.jar = new Map(copy.jar);
    const o2 = await openAuthorize(late, server.issuer, (await authUrl(s.config)).url.href);
    const stale = new Browser();
    stale.jar = new Map(late.jar);
    const form2 = { ...o2.fields, username: s.user, password: s.password };
    assert.equal((await late.post(`${server.issuer}/login`, form2)).status, 303);
    await new Promise((ok) => setTimeout(ok, 5500));
    // It only starts a sign-in of its own again: the form's request
    // goes back to /authorize, the password unchecked.
    const refused = await stale.post(`${server.issuer}/login`, form2);
    assert.equal(refused.status, 303);
    assert.match(refused.location, /^\/authorize\?restarted=1&/);
    const over = await stale.get(new URL(refused.location, server.issuer).href);
    assert.ok(isLoginForm(over), over.text);
    assert.notEqual(hiddenFields(over.text).flow, o2.fields.flow);
    assert.match(over.text, /Please sign in again/);
  });

  test('right number approves; amr is pwd swk mfa; SSO to a second app without MFA', async () => {
    const s = await mfaUser('mia');
    const firefox = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0';
    const m = await toMfa(s, new Browser({ 'user-agent': firefox }));
    const number = pageNumber(m.page.text);
    assert.match(number, /^[1-9][0-9]$/);
    const [txn, user, app, kind] = await pendingTxn(s);
    assert.equal(user, 'mia');
    assert.equal(app, 'Example RP');
    assert.equal(kind, 'number');
    const shown = await idsim(server, s.phone, ['show', txn]);
    assert.ok(!shown.stdout.includes(number) || !/number:\s*\d/.test(shown.stdout), 'the phone never gets the number');
    // Where the sign-in came from, in words from a fixed list.
    assert.match(shown.stdout, /^browser: Firefox on Windows$/m);
    assert.match(shown.stdout, /^ip: 127\.0\.0\.1$/m);
    const ok = await idsim(server, s.phone, ['approve', txn, '--number', number]);
    assert.equal(ok.stdout, 'approved', ok.stderr);
    const approved = Math.ceil(Date.now() / 1000);
    // The browser comes for the approval a while later: auth_time is
    // still when the phone approved (OIDC Core 2), which max_age judges.
    await new Promise((resolve) => setTimeout(resolve, 2100));
    const t = await finish(s, m);
    assert.deepEqual(t.claims().amr, ['pwd', 'swk', 'mfa']);
    assert.ok(t.claims().auth_time <= approved, `auth_time ${t.claims().auth_time}, approved by ${approved}`);
    assert.ok(t.claims().iat >= t.claims().auth_time + 2);
    // The user's last sign-in says which factors it took, and with what.
    const last = (await server.admin('GET', '/users/mia')).json.last_sign_in;
    assert.deepEqual(last.amr, ['pwd', 'swk', 'mfa']);
    assert.equal(last.browser, 'Firefox on Windows');
    const [sess] = (await server.admin('GET', '/sessions?user=mia')).json.sessions;
    assert.equal(sess.browser, 'Firefox on Windows');
    assert.match(ctl(server, ['sessions', 'list', 'mia']).stdout, / 127\.0\.0\.1 +Firefox on Windows +rp-mia-[0-9a-f]+$/m);
    // A second app in the same browser: no password, no MFA.
    const app2 = await server.admin('POST', '/apps', { name: `second-${Date.now()}`, redirect_uris: [REDIRECT] });
    await server.admin('POST', `/apps/${app2.json.client_id}/deploy`, { all: true });
    const s2 = { ...s, clientId: app2.json.client_id, clientSecret: app2.json.client_secret };
    const c2 = await rp(s2);
    const a2 = await authUrl(c2);
    const r2 = await m.browser.get(a2.url.href);
    assert.equal(r2.status, 302);
    assert.equal(new URL(r2.location).origin, 'http://127.0.0.1:9000');
    const t2 = await client.authorizationCodeGrant(c2, new URL(r2.location), {
      pkceCodeVerifier: a2.verifier, expectedState: a2.state, expectedNonce: a2.nonce,
    });
    assert.deepEqual(t2.claims().amr, ['pwd', 'swk', 'mfa']);
  });

  test('wrong number fails the transaction; a second answer is refused', async () => {
    const s = await mfaUser('noah');
    const m = await toMfa(s);
    const number = pageNumber(m.page.text);
    const wrong = String(((Number(number) - 10 + 1) % 90) + 10);
    const [txn] = await pendingTxn(s);
    // idsim does not send an approval that lacks the number.
    const bare = await idsim(server, s.phone, ['approve', txn]);
    assert.equal(bare.code, 2);
    assert.match(bare.stderr, /needs --number/);
    assert.equal((await pendingTxn(s))[0], txn, 'still pending');
    // Nor one whose length is not the challenge's (a typo).
    const typo = await idsim(server, s.phone, ['approve', txn, '--number', `${number}0`]);
    assert.equal(typo.code, 2);
    assert.match(typo.stderr, /has 2 digits/);
    assert.equal((await pendingTxn(s))[0], txn, 'still pending');
    const r = await idsim(server, s.phone, ['approve', txn, '--number', wrong]);
    assert.equal(r.code, 1, 'a wrong number is refused');
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /now failed \(the number did not match\)/);
    const again = await idsim(server, s.phone, ['approve', txn, '--number', number]);
    assert.equal(again.code, 1);
    const page = await m.browser.get(m.mfaUrl);
    assert.match(page.text, /did not match/);
  });

  test('wrong numbers count into the brute-force delay, each once', { timeout: 120000 }, async () => {
    // A server of its own: the failures count against the address too.
    const shared = server;
    server = await startServer({ store: STORE });
    try {
      const s = await mfaUser('nina');
      // Every round makes a challenge: no push limit in the way.
      const wf = await server.admin('PATCH', '/workflow', { push_limit: { count: 50, period_s: 300 } });
      assert.equal(wf.status, 200, wf.text);
      // From the fifth failure on, each starts a longer delay (1, 2, 4 s...),
      // so one of the next sign-ins finds it running.
      let wrongs = 0;
      let delayed = false;
      while (wrongs < 9 && !delayed) {
        const a = await authUrl(s.config);
        const b = new Browser();
        const r = await signIn(b, server.issuer, a.url.href, s.user, s.password);
        if (/Wait \d+ seconds?/.test(r.text)) {
          delayed = true;
          break;
        }
        assert.equal(r.status, 303, r.text);
        const page = await b.get(new URL(r.location, server.issuer).href);
        const number = pageNumber(page.text);
        const [txn] = await pendingTxn(s);
        const wrong = String(((Number(number) - 10 + 1) % 90) + 10);
        const w = await idsim(server, s.phone, ['approve', txn, '--number', wrong]);
        assert.match(w.stderr, /now failed/);
        wrongs++;
      }
      assert.ok(delayed, 'wrong numbers count toward the lockout');
      assert.ok(wrongs >= 5, `delayed after ${wrongs} wrong numbers: each counts once`);
    } finally {
      await server.stop();
      server = shared;
    }
  });

  test('deny, and report pauses pushes with an audit event', async () => {
    const s = await mfaUser('olga');
    let m = await toMfa(s);
    let [txn] = await pendingTxn(s);
    assert.equal((await idsim(server, s.phone, ['deny', txn])).stdout, 'denied');
    const denied = (await m.browser.get(m.mfaUrl)).text;
    assert.match(denied, /denied on the phone/);
    assert.match(denied, /<title>Denied on your phone: Sign-in not completed<\/title>/);
    // Starting again asks for the password only: the name is filled in.
    const again = denied.match(/<a href="(\/login\?flow=[^"]+)">Start again<\/a>/);
    assert.ok(again);
    const form = await m.browser.get(`${server.issuer}${again[1].replace(/&amp;/g, '&')}`);
    assert.equal(form.status, 200);
    assert.match(form.text, /<input [^>]*name="username"[^>]*value="olga"/);
    m = await toMfa(s);
    [txn] = await pendingTxn(s);
    assert.equal((await idsim(server, s.phone, ['deny', txn, '--report'])).stdout, 'reported');
    const audit = await server.admin('GET', '/audit?limit=20');
    const report = audit.json.events.find((e) => e.action === 'mfa.report');
    assert.ok(report, 'audit event');
    // Where the reported sign-in came from, not only the phone's address.
    assert.equal(report.detail.signin_ip, '127.0.0.1');
    assert.equal(report.detail.txn, txn);
    assert.ok(audit.json.events.some((e) => e.action === 'mfa.deny' && e.target === 'olga'), 'a denial is audited');
    const metrics = await (await fetch(`${server.issuer}/metrics`)).text();
    assert.match(metrics, /authflow_mfa_total\{outcome="reported"\} [1-9]/);
    assert.match(metrics, /authflow_mfa_total\{outcome="denied"\} [1-9]/);
    // Paused: the next sign-in goes to the token code, no challenge;
    // the right password again after a report is counted and a warning.
    const paused = await mfaCount('push_paused');
    m = await toMfa(s);
    assert.equal(pageNumber(m.page.text), null);
    assert.match(m.page.text, /paused/);
    assert.equal(await mfaCount('push_paused'), paused + 1);
    const line = server.stderr().split('\n').filter((l) => l.includes('"outcome":"push_paused"'))
      .map((l) => JSON.parse(l)).find((l) => l.user === 'olga');
    assert.equal(line?.level, 'warn');
    assert.match(line.msg, /^resume_in_s=\d+$/);
    const p = await idsim(server, s.phone, ['pending']);
    assert.equal(p.stdout, '');
    // An administrator who has checked with the user lifts the pause.
    assert.equal((await server.admin('POST', '/users/olga/unlock')).status, 200);
    m = await toMfa(s);
    assert.ok(pageNumber(m.page.text), 'pushes go again after unlock');
    // With the report pause off, a report pauses nothing and says so.
    assert.equal((await server.admin('PATCH', '/workflow', { report_pause_s: 0 })).status, 200);
    try {
      [txn] = await pendingTxn(s);
      assert.equal((await idsim(server, s.phone, ['deny', txn, '--report'])).stdout, 'reported');
      const page = (await m.browser.get(m.mfaUrl)).text;
      assert.match(page, /reported as not yours/);
      assert.doesNotMatch(page, /paused/);
      m = await toMfa(s);
      assert.ok(pageNumber(m.page.text), 'no pause');
    } finally {
      assert.equal((await server.admin('PATCH', '/workflow', { report_pause_s: 900 })).status, 200);
    }
  });

  test('a phone past limits.device_requests_per_minute gets 429 with Retry-After; bad signatures and other phones spend none of it', async () => {
    const shared = server;
    server = await startServer({ store: STORE, limits: { device_requests_per_minute: 4 } });
    try {
      await seed(server, { user: 'rhea', policy: { remote_access: true } });
      await seed(server, { user: 'ravi', policy: { remote_access: true } });
      const p = await rawPhone('rhea');
      const other = await rawPhone('ravi');
      // Requests naming the phone that it did not sign are not its own.
      for (let i = 0; i < 6; i++) {
        const r = await fetch(`${server.issuer}/device/v1/challenges`, {
          headers: {
            'x-af-device': p.id, 'x-af-timestamp': String(Math.floor(Date.now() / 1000)),
            'x-af-nonce': randomBytes(18).toString('base64url'), 'x-af-signature': 'A'.repeat(86),
          },
        });
        assert.equal(r.status, 401);
      }
      // Nor do replays of one it signed: refused, and not counted.
      const once = p.prepare('GET', '/device/v1/challenges');
      assert.equal((await once()).status, 200);
      for (let i = 0; i < 5; i++) assert.equal((await once()).status, 401);
      for (let i = 0; i < 3; i++) assert.equal((await p.call('GET', '/device/v1/challenges')).status, 200);
      // At the limit, replays sent at once are still told as replays.
      const replays = await Promise.all([0, 1, 2, 3, 4].map(() => once()));
      assert.deepEqual(replays.map((r) => r.status), [401, 401, 401, 401, 401]);
      for (let i = 0; i < 3; i++) {
        const r = await p.call('GET', '/device/v1/challenges');
        assert.equal(r.status, 429);
        assert.equal(r.json.error, 'rate_limited');
        const after = Number(r.headers.get('retry-after'));
        assert.ok(after >= 1 && after <= 60, `Retry-After ${after}`);
      }
      assert.equal((await other.call('GET', '/device/v1/challenges')).status, 200);
      // One warning a window, however long the flood.
      assert.equal(server.stderr().match(/action=rate_limited device=[^ ]+ limit=4/g)?.length, 1, server.stderr());
    } finally {
      await server.stop();
      server = shared;
    }
  });

  test('token code works once; replay refused; five wrong codes end the flow', async () => {
    const s = await mfaUser('pete');
    let m = await toMfa(s);
    const code = (await idsim(server, s.phone, ['code'])).stdout;
    assert.match(code, /^\d{6}$/);
    const f = hiddenFields(m.page.text);
    // A field twice: refused before the code is checked, spent or counted.
    const twice = await m.browser.post(`${server.issuer}/login/mfa/code`,
      [['flow', f.flow], ['csrf', f.csrf], ['code', '000000'], ['code', code]]);
    assert.equal(twice.status, 400);
    assert.match(twice.text, /A field of the form came more than once/);
    const r = await m.browser.post(`${server.issuer}/login/mfa/code`, { flow: f.flow, csrf: f.csrf, code });
    assert.equal(r.status, 302, r.text);
    const t = await client.authorizationCodeGrant(s.config, new URL(r.location), {
      pkceCodeVerifier: m.a.verifier, expectedState: m.a.state, expectedNonce: m.a.nonce,
    });
    assert.deepEqual(t.claims().amr, ['pwd', 'otp', 'mfa']);
    assert.deepEqual((await server.admin('GET', '/users/pete')).json.last_sign_in.amr, ['pwd', 'otp', 'mfa']);
    // The same code in a new sign-in: refused, and counted as replayed.
    m = await toMfa(s, new Browser());
    const f2 = hiddenFields(m.page.text);
    const [replayed, wrong] = [await mfaCount('code_replayed'), await mfaCount('code_wrong')];
    const again = await m.browser.post(`${server.issuer}/login/mfa/code`, { flow: f2.flow, csrf: f2.csrf, code });
    assert.equal(again.status, 401);
    assert.match(again.text, /already used/);
    assert.equal(await mfaCount('code_replayed'), replayed + 1);
    assert.equal(await mfaCount('code_wrong'), wrong);
    for (let i = 0; i < 4; i++) {
      const w = await m.browser.post(`${server.issuer}/login/mfa/code`, { flow: f2.flow, csrf: f2.csrf, code: '000000' });
      if (i < 3) assert.equal(w.status, 401);
      else assert.match(w.text, /Too many wrong token codes/);
    }
    // One more, or the page again: the sign-in is back at the password,
    // and the page says so, with the way on (not "this page expired").
    for (const late of [
      await m.browser.post(`${server.issuer}/login/mfa/code`, { flow: f2.flow, csrf: f2.csrf, code: '000000' }),
      await m.browser.get(m.mfaUrl),
    ]) {
      assert.equal(late.status, 409);
      assert.match(late.text, /<title>Phone step ended: Sign in again<\/title>/);
      assert.match(late.text, /<a href="\/login\?flow=[^"]+">Start again<\/a>/);
    }
    // Starting again, the password gives no new tries: the five were the
    // flow's. A code is not even checked (nor counted against the
    // user); the new request on the phone still finishes the sign-in.
    await server.admin('POST', '/users/pete/unlock');
    const form = await m.browser.get(`${server.issuer}/login?flow=${f2.flow}`);
    assert.equal(form.status, 200);
    const r2 = await m.browser.post(`${server.issuer}/login`, { ...hiddenFields(form.text), username: 'pete', password: s.password });
    assert.equal(r2.status, 303, r2.text);
    const page2 = await m.browser.get(new URL(r2.location, server.issuer).href);
    assert.equal(page2.status, 200);
    const f3 = hiddenFields(page2.text);
    const fresh = (await idsim(server, s.phone, ['code'])).stdout;
    const spent = await m.browser.post(`${server.issuer}/login/mfa/code`, { flow: f3.flow, csrf: f3.csrf, code: fresh });
    assert.equal(spent.status, 429);
    assert.match(spent.text, /Too many wrong token codes were typed in this sign-in/);
    assert.equal((await server.admin('GET', '/users/pete')).json.failed_signins, 0, 'an unchecked code is no failure');
    const [txn, , , number] = await pendingTxn(s);
    assert.notEqual(number, 'nonumber');
    assert.equal((await idsim(server, s.phone, ['approve', txn, '--number', pageNumber(page2.text)])).stdout, 'approved');
    const t2 = await finish(s, { ...m, mfaUrl: new URL(r2.location, server.issuer).href });
    assert.deepEqual(t2.claims().amr, ['pwd', 'swk', 'mfa']);
    await server.admin('POST', '/users/pete/unlock');
  });

  test('the log joins the password step, the phone\'s answer, the sign-in and its tokens', async () => {
    const shared = server;
    server = await startServer({ store: STORE, logLevel: 'info' });
    try {
      const s = await mfaUser('petra');
      const m = await toMfa(s);
      const [txn] = await pendingTxn(s);
      assert.equal((await idsim(server, s.phone, ['approve', txn, '--number', pageNumber(m.page.text)])).stdout, 'approved');
      const t = await finish(s, m);
      const device = (await server.admin('GET', '/users/petra/devices')).json.devices[0].id;
      const lines = server.stderr().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
      assert.ok(lines.some((l) => l.event === 'mfa' && l.msg.includes(`txn_started=1 txn=${txn} `)), 'the password step names the txn');
      assert.ok(lines.some((l) => l.event === 'device' && l.msg.includes(`device=${device} txn=${txn}`)), 'so does the phone\'s answer');
      const login = lines.find((l) => l.event === 'login' && l.user === 'petra' && l.outcome === 'ok');
      assert.equal(login?.msg, `factor=swk txn=${txn} device=${device}`);
      const issued = lines.find((l) => l.event === 'code_issued' && l.rid === login.rid);
      assert.equal(issued?.sid, t.claims().sid);
      assert.equal(issued.sso, '0');
      assert.equal(lines.find((l) => l.event === 'token' && l.user === 'petra')?.sid, t.claims().sid);
    } finally {
      await server.stop();
      server = shared;
    }
  });

  test('wrong token codes in parallel flows: no more are checked than the limit', async () => {
    // A server of its own: the failures count against the address too.
    const shared = server;
    server = await startServer({ store: STORE, logLevel: 'info' });
    try {
      const s = await mfaUser('paz');
      const flows = [];
      for (let i = 0; i < 25; i++) {
        const m = await toMfa(s, new Browser());
        flows.push({ b: m.browser, f: hiddenFields(m.page.text) });
      }
      // Each sign-in's line names its txn, as the push's and the phone's do.
      const started = server.stderr().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l))
        .filter((l) => l.event === 'mfa' && /txn_started=1/.test(l.msg));
      assert.ok(started.length >= 1);
      const txns = started.map((l) => l.msg.match(/^user=paz txn_started=1 txn=([A-Za-z0-9_-]{22,}) pushes=\d+(?: why=paused)?$/)?.[1]);
      assert.equal(new Set(txns.filter(Boolean)).size, started.length, JSON.stringify(started));
      // One failure first: from then on the user's code checks take turns.
      const first = flows.shift();
      const w = await first.b.post(`${server.issuer}/login/mfa/code`, { flow: first.f.flow, csrf: first.f.csrf, code: '000000' });
      assert.equal(w.status, 401, w.text);
      const answers = await Promise.all(flows.map(({ b, f }) => b.post(`${server.issuer}/login/mfa/code`,
        { flow: f.flow, csrf: f.csrf, code: '000000' })));
      let checked = answers.filter((r) => r.status === 401).length;
      assert.ok(answers.every((r) => r.status === 401 || r.status === 429), answers.map((r) => r.status).join(' '));
      assert.ok(checked >= 1 && checked <= 4, `wrong codes checked at once: ${answers.map((r) => r.status).join(' ')}`);
      // One at a time, the flows reach the delay after exactly the limit.
      let waiting;
      for (const { b, f } of flows) {
        const r = await b.post(`${server.issuer}/login/mfa/code`, { flow: f.flow, csrf: f.csrf, code: '000000' });
        if (r.status === 401) { checked++; continue; }
        assert.equal(r.status, 429, r.text);
        waiting = r;
        break;
      }
      assert.equal(checked, 4, 'wrong codes checked after the first failure');
      assert.match(waiting.text, /Wait \d+ seconds? and try again/);
      assert.match(waiting.headers.get('retry-after'), /^[1-9]\d*$/);
      // Each refusal is a login line with members of its own, and counted.
      const refused = answers.filter((r) => r.status === 429).length + 1;
      const lines = server.stderr().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l))
        .filter((l) => l.event === 'login' && l.outcome === 'throttled');
      assert.equal(lines.length, refused, server.stderr());
      assert.ok(lines.every((l) => l.user === 'paz' && l.ip === '127.0.0.1' && /^step=code wait_s=[1-9]/.test(l.msg)),
        JSON.stringify(lines));
      const metrics = await (await fetch(`${server.issuer}/metrics`)).text();
      assert.match(metrics, new RegExp(`^authflow_logins_total\\{outcome="throttled"\\} ${refused}$`, 'm'));
    } finally {
      await server.stop();
      server = shared;
    }
  });

  test('a denied or failed push ends the sign-in: the token code cannot finish it', async () => {
    const s = await mfaUser('rhea');
    for (const answer of [['deny'], ['approve', '--number', '00']]) {
      const m = await toMfa(s);
      const [txn] = await pendingTxn(s);
      await idsim(server, s.phone, [answer[0], txn, ...answer.slice(1)]);
      const f = hiddenFields(m.page.text);
      const code = (await idsim(server, s.phone, ['code'])).stdout;
      const r = await m.browser.post(`${server.issuer}/login/mfa/code`, { flow: f.flow, csrf: f.csrf, code });
      assert.notEqual(r.status, 302, `no code after ${answer[0]}`);
      assert.match(r.text, /Sign-in not completed/);
    }
  });

  test('a denied push whose record the store lost ends the sign-in: no push goes again', async () => {
    // Only on Redis can a test take a record away, as a store may lose one.
    if (STORE !== 'redis') return;
    const s = await mfaUser('rhea-lost');
    const m = await toMfa(s);
    const [txn] = await pendingTxn(s);
    assert.equal((await idsim(server, s.phone, ['deny', txn])).code, 0);
    redisCli('DEL', `e2e${server.port}:txn:${txn}`);
    const f = hiddenFields(m.page.text);
    const status = async () => JSON.parse((await m.browser.get(
      `${server.issuer}/login/mfa/status?flow=${encodeURIComponent(f.flow)}`)).text);
    // Over, and not one a token code finishes (the page's script offers
    // one only for "expired").
    assert.equal((await status()).state, 'cancelled');
    const again = await m.browser.post(`${server.issuer}/login/mfa/push`, { flow: f.flow, csrf: f.csrf });
    assert.equal(again.status, 200, again.text);
    assert.match(again.text, /<title>Request no longer open: Sign-in not completed/);
    assert.match(again.text, /The request to your phone is no longer open\./);
    const p = await idsim(server, s.phone, ['pending']);
    assert.equal(p.stdout.trim(), '', 'no new challenge');
    // The page, and its status, say the same; the sign-in starts over.
    assert.notEqual((await status()).state, 'pending');
    const page = await m.browser.get(`${server.issuer}/login/mfa?flow=${encodeURIComponent(f.flow)}`);
    assert.doesNotMatch(page.text, /action="\/login\/mfa\/push"/);
  });

  test('a push the store could not count is said to have failed, not to be over a limit; asking again sends it', async () => {
    // Only on Redis can a test make one key fail (a key of another type).
    if (STORE !== 'redis') return;
    const s = await mfaUser('rudi-store');
    const key = `e2e${server.port}:push_count:rudi-store`;
    redisCli('SADD', key, 'x');
    const m = await toMfa(s);
    assert.equal(pageNumber(m.page.text), null);
    assert.match(m.page.text, /A sign-in request could not be sent to your phone just now\./);
    assert.doesNotMatch(m.page.text, /Too many sign-in requests/);
    assert.match(m.page.text, /<button type="submit">Send a request to my phone<\/button>/);
    assert.equal((await idsim(server, s.phone, ['pending'])).stdout, '');
    redisCli('DEL', key);
    const sent = await askAgain(m, m.page);
    assert.equal(sent.status, 303, sent.text);
    const number = pageNumber((await m.browser.get(m.mfaUrl)).text);
    assert.ok(number, 'the number of the request sent again');
    const [txn] = await pendingTxn(s);
    assert.equal((await idsim(server, s.phone, ['approve', txn, '--number', number])).stdout, 'approved');
    assert.deepEqual((await finish(s, m)).claims().amr, ['pwd', 'swk', 'mfa']);
  });

  test('a sign-in whose session the store refused is put back: the page\'s retry finishes it', async () => {
    // Only on Redis can a test make one key fail (a key of another type).
    if (STORE !== 'redis') return;
    const s = await mfaUser('uma-store');
    const key = `e2e${server.port}:user_sessions:uma-store`;
    const m = await toMfa(s);
    const [txn] = await pendingTxn(s);
    assert.equal((await idsim(server, s.phone, ['approve', txn, '--number', pageNumber(m.page.text)])).stdout, 'approved');
    const flow = new URL(m.mfaUrl).searchParams.get('flow');
    const status = JSON.parse((await m.browser.get(`${server.issuer}/login/mfa/status?flow=${flow}`)).text);
    assert.equal(status.state, 'approved');
    redisCli('SET', key, 'x');
    const refused = await m.browser.get(new URL(status.next, server.issuer).href);
    assert.equal(refused.status, 503, refused.text);
    assert.match(refused.text, /Please try again in a moment\./);
    redisCli('DEL', key);
    // The retry the page asks for: the same sign-in, with its approval.
    const done = await m.browser.get(new URL(status.next, server.issuer).href);
    assert.equal(done.status, 302, done.text);
    const tokens = await client.authorizationCodeGrant(s.config, new URL(done.location), {
      pkceCodeVerifier: m.a.verifier, expectedState: m.a.state, expectedNonce: m.a.nonce,
    });
    assert.deepEqual(tokens.claims().amr, ['pwd', 'swk', 'mfa']);
  });

  test('wrong token codes count into the lockout across password steps', { timeout: 120000 }, async () => {
    // A server of its own that locks at the sixth failure: the growing
    // delays before a lock at the default tenth (1 + 2 + 4 + 8 + 16 s) are
    // the throttle's unit tests' to wait out; here one delay comes first.
    const shared = server;
    server = await startServer({ store: STORE, limits: { lockout_after: 6 } });
    try {
      const s = await mfaUser('sasha');
      let locked = false;
      let waiting; // a sign-in left at the phone step, past the push limit
      for (let round = 0; round < 40 && !locked; round++) {
        const a = await authUrl(s.config);
        const b = new Browser();
        const r = await signIn(b, server.issuer, a.url.href, s.user, s.password);
        const wait = /Wait (\d+) seconds?/.exec(r.text);
        if (r.status === 403) { locked = true; break; }
        if (wait) { await sleep(Number(wait[1]) * 1000 + 200); continue; }
        assert.equal(r.status, 303, r.text);
        const page = await b.get(new URL(r.location, server.issuer).href);
        const f = hiddenFields(page.text);
        const w = await b.post(`${server.issuer}/login/mfa/code`, { flow: f.flow, csrf: f.csrf, code: '000000' });
        if (w.status === 403) locked = true;
        else if (pageNumber(page.text) === null) waiting = { b, f };
        const again = /Wait (\d+) seconds?/.exec(w.text);
        if (again) await sleep(Number(again[1]) * 1000 + 200);
      }
      assert.ok(locked, 'a right password does not clear the wrong codes');
      // A locked account gets no more requests on its phone.
      assert.ok(waiting, 'a sign-in past the push limit');
      const pending = async () => (await idsim(server, s.phone, ['pending'])).stdout.split('\n').filter(Boolean).length;
      const before = await pending();
      const ask = await waiting.b.post(`${server.issuer}/login/mfa/push`, { flow: waiting.f.flow, csrf: waiting.f.csrf });
      assert.equal(ask.status, 403, ask.text);
      assert.match(ask.text, /Account locked/);
      assert.ok(await pending() <= before, 'no new request');
      const u = await server.admin('GET', '/users/sasha');
      assert.equal(u.json.locked, true);
      const audit = (await server.admin('GET', '/audit?limit=100')).json.events.filter((e) => e.target === 'sasha');
      assert.ok(audit.some((e) => e.action === 'user.lock'), 'the lock is audited');
      assert.ok(audit.some((e) => e.action === 'mfa.code_wrong' && e.actor.startsWith('ip:')), 'wrong codes are audited');
      // A new password lifts no lock, and the service desk is told so.
      const pw = await server.admin('PUT', '/users/sasha/password', { password: 'sasha-new-pass-7' });
      assert.equal(pw.status, 200, pw.text);
      assert.deepEqual(pw.json, { ok: true, username: 'sasha', locked: true });
      const said = ctl(server, ['user', 'passwd', 'sasha', '--password-stdin'], 'sasha-newer-pass-8\n');
      assert.equal(said.code, 0, said.stderr);
      assert.equal(said.stdout, 'set the password of user sasha\n'
        + 'the user is still locked by failed sign-ins: authflowctl user unlock sasha lifts the lock\n');
      await server.admin('POST', '/users/sasha/unlock');
      assert.deepEqual((await server.admin('PUT', '/users/sasha/password', { password: 'sasha-new-pass-9' })).json,
        { ok: true, username: 'sasha', locked: false });
    } finally {
      await server.stop();
      server = shared;
    }
  });

  test('an account locked while a request waits cannot sign in by approving it', { timeout: 60000 }, async () => {
    // A server of its own: locked after three failures.
    const shared = server;
    server = await startServer({ store: STORE, limits: { lockout_after: 3, lockout_s: 0 } });
    try {
      const s = await mfaUser('lena');
      const wf = await server.admin('PATCH', '/workflow', { push_limit: { count: 50, period_s: 300 } });
      assert.equal(wf.status, 200, wf.text);
      const early = await toMfa(s);
      const number = pageNumber(early.page.text);
      const [first] = await pendingTxn(s);
      // Someone else with the password: three wrong numbers on the phone.
      for (let i = 0; i < 3; i++) {
        const m = await toMfa(s);
        const txn = (await idsim(server, s.phone, ['pending'])).stdout.split('\n').filter(Boolean)
          .map((l) => l.split(' ')[0]).find((t) => t !== first);
        const n = pageNumber(m.page.text);
        const wrong = String(((Number(n) - 10 + 1) % 90) + 10);
        assert.match((await idsim(server, s.phone, ['approve', txn, '--number', wrong])).stderr, /now failed/);
      }
      assert.equal((await server.admin('GET', '/users/lena')).json.locked, true);
      // The request from before the lock, approved: no sign-in.
      assert.equal((await idsim(server, s.phone, ['approve', first, '--number', number])).stdout, 'approved');
      const page = await early.browser.get(early.mfaUrl);
      assert.equal(page.status, 403, page.text);
      assert.match(page.text, /Account locked/);
      assert.equal((await server.admin('GET', '/sessions?user=lena')).json.sessions.length, 0, 'no session');
    } finally {
      await server.stop();
      server = shared;
    }
  });

  test('known browser: the user\'s own browser passes both steps while others wait', { timeout: 60000 }, async () => {
    // A server of its own, behind a trusted proxy: each browser has an address.
    const shared = server;
    server = await startServer({ store: STORE, listen: { trusted_proxies: ['127.0.0.0/8'] } });
    try {
      const xff = (ip) => ({ 'x-forwarded-for': `${ip}, 127.0.0.1` });
      const s = await mfaUser('kai');
      const mine = new Browser(xff('198.51.100.8'));
      let m = await toMfa(s, mine);
      // The password alone does not make the browser known.
      assert.ok(!mine.jar.has('af_known'));
      const code = (await idsim(server, s.phone, ['code'])).stdout;
      let f = hiddenFields(m.page.text);
      let r = await mine.post(`${server.issuer}/login/mfa/code`, { flow: f.flow, csrf: f.csrf, code });
      assert.equal(r.status, 302, r.text);
      assert.ok(setCookies(r.headers).some((c) => /^af_known=[A-Za-z0-9_-]{32};/.test(c)), 'known after both steps');
      // Someone with the name runs up the user's delay from elsewhere.
      const other = new Browser(xff('203.0.113.19'));
      for (let i = 0; i < 5; i++) {
        r = await signIn(other, server.issuer, (await authUrl(s.config)).url.href, s.user, `wrong-${i}`);
        assert.equal(r.status, 401);
      }
      r = await signIn(other, server.issuer, (await authUrl(s.config)).url.href, s.user, s.password);
      assert.equal(r.status, 429, 'others wait');
      // The user's own browser passes the password, and its wrong code is
      // checked (401), not held up (429) by the others' failures.
      m = await toMfa(s, mine, { prompt: 'login' });
      f = hiddenFields(m.page.text);
      r = await mine.post(`${server.issuer}/login/mfa/code`, { flow: f.flow, csrf: f.csrf, code: '000000' });
      assert.equal(r.status, 401, r.text);
      assert.match(r.text, /not right/);
      // A new password forgets the user's browsers: this one now waits too.
      assert.equal((await server.admin('PUT', `/users/${s.user}/password`, { password: 'kai-new-password' })).status, 200);
      // The one-second wait of the fifth failure may have run out by now:
      // a sixth from elsewhere begins one of two.
      await new Promise((res) => setTimeout(res, 1100));
      r = await signIn(other, server.issuer, (await authUrl(s.config)).url.href, s.user, 'wrong-5');
      assert.equal(r.status, 401);
      r = await signIn(mine, server.issuer, (await authUrl(s.config, { prompt: 'login' })).url.href, s.user, 'kai-new-password');
      assert.equal(r.status, 429, r.text);
    } finally {
      await server.stop();
      server = shared;
    }
  });

  test('a password-only session does not carry over once the policy asks for MFA', async () => {
    const s = await seed(server, { user: 'tara' });
    s.config = await rp(s);
    const b = new Browser();
    let a = await authUrl(s.config);
    let r = await signIn(b, server.issuer, a.url.href, s.user, s.password);
    assert.equal(r.status, 302, 'password only');
    const pol = await server.admin('PATCH', '/policies/sso-tara', { remote_access: true });
    assert.equal(pol.status, 200, pol.text);
    a = await authUrl(s.config);
    r = await b.get(a.url.href);
    assert.ok(isLoginForm(r), 'a new sign-in, not a code');
    const none = new URL(a.url.href);
    none.searchParams.set('prompt', 'none');
    r = await b.get(none.href);
    assert.equal(new URL(r.location).searchParams.get('error'), 'login_required');
  });

  test('a password-only user asked for MFA gets no more token-code tries by signing in with the password', async () => {
    const s = await seed(server, { user: 'sami' });
    s.phone = await enrollPhone(server, 'sami', ['--platform', 'none', '--app-version', '2024.1']);
    s.config = await rp(s);
    const b = new Browser();
    const mfa = { acr_values: 'urn:authflow:acr:mfa' };
    // A password-only sign-in (which clears the password's failures and
    // makes the browser known), then a step-up flow with wrong codes.
    const round = async (wrong) => {
      const a = await authUrl(s.config, { prompt: 'login' });
      const r = await signIn(b, server.issuer, a.url.href, s.user, s.password);
      assert.equal(r.status, 302, r.text);
      const m = await toMfa(s, b, mfa);
      const f = hiddenFields(m.page.text);
      for (let i = 0; i < wrong; i++) {
        const w = await b.post(`${server.issuer}/login/mfa/code`, { flow: f.flow, csrf: f.csrf, code: '000000' });
        assert.equal(w.status, 401, w.text);
      }
      return { m, f };
    };
    for (let i = 0; i < 2; i++) {
      const { f } = await round(4);
      const c = await b.post(`${server.issuer}/login/mfa/cancel`, { flow: f.flow, csrf: f.csrf });
      assert.ok(c.status < 500, c.text);
    }
    // Ten tries counted for the user: the next code, even the right one,
    // is not checked; the request on the phone still signs in.
    const { m, f } = await round(2);
    const code = (await idsim(server, s.phone, ['code'])).stdout;
    const r = await b.post(`${server.issuer}/login/mfa/code`, { flow: f.flow, csrf: f.csrf, code });
    assert.equal(r.status, 429, r.text);
    assert.match(r.text, /Too many wrong token codes were typed for this account\. Approve the request on your phone, or try a code again in about 30 minutes\./);
    assert.equal((await server.admin('GET', '/users/sami')).json.locked, false, 'the password still works');
    const [txn] = await pendingTxn(s);
    assert.equal((await idsim(server, s.phone, ['approve', txn, '--number', pageNumber(m.page.text)])).stdout, 'approved');
    assert.deepEqual((await finish(s, m)).claims().amr, ['pwd', 'swk', 'mfa']);
    // The second factor passed: codes are checked again.
    const m2 = await toMfa(s, new Browser(), mfa);
    const f2 = hiddenFields(m2.page.text);
    const ok = await m2.browser.post(`${server.issuer}/login/mfa/code`, { flow: f2.flow, csrf: f2.csrf, code });
    assert.equal(ok.status, 302, ok.text);
  });

  test('acr_values naming the MFA acr first steps up a password-only user', async () => {
    const s = await seed(server, { user: 'uma' });
    s.phone = await enrollPhone(server, 'uma', ['--platform', 'none', '--app-version', '2024.1']);
    s.config = await rp(s);
    const b = new Browser();
    let a = await authUrl(s.config);
    let r = await signIn(b, server.issuer, a.url.href, s.user, s.password);
    assert.equal(r.status, 302, 'the policy asks for the password alone');
    let t = await client.authorizationCodeGrant(s.config, new URL(r.location), {
      pkceCodeVerifier: a.verifier, expectedState: a.state, expectedNonce: a.nonce,
    });
    assert.equal(t.claims().acr, 'urn:authflow:acr:pwd');
    // The same browser, MFA asked for: the password-only session is not enough.
    const mfa = { acr_values: 'urn:example:other urn:authflow:acr:mfa urn:authflow:acr:pwd' };
    a = await authUrl(s.config, mfa);
    r = await b.get(a.url.href);
    assert.ok(isLoginForm(r), 'a new sign-in, not a code');
    const none = new URL(a.url.href);
    none.searchParams.set('prompt', 'none');
    r = await b.get(none.href);
    assert.equal(new URL(r.location).searchParams.get('error'), 'login_required');
    const m = await toMfa(s, b, mfa);
    const number = pageNumber(m.page.text);
    const [txn] = await pendingTxn(s);
    const ok = await idsim(server, s.phone, ['approve', txn, '--number', number]);
    assert.equal(ok.stdout, 'approved', ok.stderr);
    t = await finish(s, m);
    assert.equal(t.claims().acr, 'urn:authflow:acr:mfa');
    assert.deepEqual(t.claims().amr, ['pwd', 'swk', 'mfa']);
    // Now the session has MFA: a later request for it is answered at once.
    a = await authUrl(s.config, mfa);
    r = await b.get(a.url.href);
    assert.equal(new URL(r.location).origin, 'http://127.0.0.1:9000', 'SSO with the MFA session');
    // The password acr first: the policy decides, a new browser needs only the password.
    a = await authUrl(s.config, { acr_values: 'urn:authflow:acr:pwd urn:authflow:acr:mfa' });
    r = await signIn(new Browser(), server.issuer, a.url.href, s.user, s.password);
    assert.equal(r.status, 302, 'password alone');
    // A user without a phone asked for MFA is sent to enroll one.
    const n = await seed(server, { user: 'ned' });
    n.config = await rp(n);
    a = await authUrl(n.config, mfa);
    const nb = new Browser();
    r = await signIn(nb, server.issuer, a.url.href, n.user, n.password);
    assert.equal(r.status, 200);
    assert.match(r.text, /Set up your authenticator/);
    // The application is not left waiting: it learns nobody signed in.
    assert.match(r.text, /<button type="submit" name="cancel" value="1">Back to the application<\/button>/);
    assert.match(r.headers.get('content-security-policy') ?? '', /form-action [^;]*http:\/\/127\.0\.0\.1:9000/);
    const back = await nb.post(`${server.issuer}/login`, { ...hiddenFields(r.text), cancel: '1' });
    assert.equal(back.status, 302, back.text);
    const to = new URL(back.location);
    assert.equal(to.searchParams.get('error'), 'access_denied');
    assert.equal(to.searchParams.get('state'), a.state);
    assert.equal(to.searchParams.get('iss'), server.issuer);
    // acr_values is bounded.
    a = await authUrl(s.config, { acr_values: 'x'.repeat(1025) });
    r = await new Browser().get(a.url.href);
    assert.equal(new URL(r.location).searchParams.get('error'), 'invalid_request');
  });

  test('/enroll: another phone only after a sign-in with the phone; a first one after the password', async () => {
    // A phone, a policy that asks for the password alone: a password
    // session must not add a phone that would then pass any MFA step.
    const s = await seed(server, { user: 'vera' });
    s.phone = await enrollPhone(server, 'vera', ['--platform', 'none', '--app-version', '2024.1']);
    s.config = await rp(s);
    const b = new Browser();
    let a = await authUrl(s.config);
    let r = await signIn(b, server.issuer, a.url.href, s.user, s.password);
    assert.equal(r.status, 302, 'password alone');
    let e = await b.get(`${server.issuer}/enroll`);
    assert.equal(e.status, 403);
    assert.match(e.text, /Sign in with your phone first/);
    assert.doesNotMatch(e.text, /<svg|<code>|<form/, 'no enrollment code, no form');
    // After a sign-in that used the phone, the session may add one.
    const mfa = { acr_values: 'urn:authflow:acr:mfa' };
    const m = await toMfa(s, b, mfa);
    const [txn] = await pendingTxn(s);
    const ok = await idsim(server, s.phone, ['approve', txn, '--number', pageNumber(m.page.text)]);
    assert.equal(ok.stdout, 'approved', ok.stderr);
    await finish(s, m);
    let c = await enrollCode(b);
    assert.equal(c.page.status, 200, c.page.text);
    assert.match(c.page.text, /Add a phone to your account/);
    assert.equal(c.answer.status, 200, c.answer.text);
    assert.match(c.answer.text, /Add a phone to your account/);
    assert.match(c.answer.text, /<svg/);
    const madeCode = shownEnrollCode(c.answer.text);
    assert.ok(madeCode);
    // The phone removed (lost, say): the session its approval made ends
    // with it, and the code that session made adds no phone, neither now
    // nor once the user has a new phone from an administrator.
    const devs = (await server.admin('GET', '/users/vera/devices')).json.devices;
    for (const d of devs) assert.equal((await server.admin('DELETE', `/devices/${d.id}`)).status, 200);
    a = await authUrl(s.config, { prompt: 'none' });
    r = await b.get(a.url.href);
    assert.equal(new URL(r.location).searchParams.get('error'), 'login_required', 'the session ended');
    e = await b.get(`${server.issuer}/enroll`);
    assert.doesNotMatch(e.text, /<svg|<code>|<form method="post"/, 'no enrollment');
    s.phone = await enrollPhone(server, 'vera', ['--platform', 'none', '--app-version', '2024.1']);
    const t = await idsim(server, path.join(server.dir, 'vera-finder.json'), ['enroll', madeCode]);
    assert.equal(t.code, 1, 'revoked with the phone');
    assert.equal((await server.admin('GET', '/users/vera/devices')).json.devices.length, 1);
    // A user who never had a phone sets up the first one after the
    // password, once their policy asks for the second step: not before.
    const w = await seed(server, { user: 'wes' });
    w.config = await rp(w);
    const bw = new Browser();
    a = await authUrl(w.config);
    r = await signIn(bw, server.issuer, a.url.href, w.user, w.password);
    assert.equal(r.status, 302);
    e = await bw.get(`${server.issuer}/enroll`);
    assert.equal(e.status, 403);
    assert.match(e.text, /No phone needed/);
    assert.doesNotMatch(e.text, /<svg|<code>|<form method="post"/, 'no enrollment code, no form');
    assert.equal((await policyAsks('wes', true)).status, 200);
    c = await enrollCode(bw);
    assert.equal(c.answer.status, 200, c.answer.text);
    assert.match(c.answer.text, /<svg/);
    const firstCode = shownEnrollCode(c.answer.text);
    // Not while the workflow keeps enrollment to administrators: neither
    // the page, nor a post of the form shown before, nor a code shown
    // before.
    const shown = await bw.get(`${server.issuer}/enroll`);
    assert.equal(shown.status, 200, shown.text);
    const wf = await server.admin('PATCH', '/workflow', { enroll_after_password: false });
    assert.equal(wf.status, 200, wf.text);
    try {
      e = await bw.get(`${server.issuer}/enroll`);
      assert.equal(e.status, 403);
      e = await bw.post(`${server.issuer}/enroll`, hiddenFields(shown.text));
      assert.equal(e.status, 403);
      assert.doesNotMatch(e.text, /<svg|<code>/, 'no enrollment code');
      const t2 = await idsim(server, path.join(server.dir, 'wes-phone.json'), ['enroll', firstCode]);
      assert.equal(t2.code, 1, 'a code shown before the change');
      assert.equal((await server.admin('GET', '/users/wes/devices')).json.devices.length, 0);
    } finally {
      await server.admin('PATCH', '/workflow', { enroll_after_password: true });
    }
  });

  test('/enroll: a code made in a browser the user then signs out adds no phone', async () => {
    const s = await mfaUser('zeno');
    const signedInWithPhone = async (b) => {
      const m = await toMfa(s, b);
      const [txn] = await pendingTxn(s);
      const ok = await idsim(server, s.phone, ['approve', txn, '--number', pageNumber(m.page.text)]);
      assert.equal(ok.stdout, 'approved', ok.stderr);
      await finish(s, m);
    };
    // Someone with the password and the phone for a moment (a thief)
    // makes a code; the user, in their own browser, signs the others out.
    const thief = new Browser();
    await signedInWithPhone(thief);
    const c = await enrollCode(thief);
    const code = shownEnrollCode(c.answer.text);
    assert.ok(code, c.answer.text);
    const own = new Browser();
    await signedInWithPhone(own);
    const url = `${server.issuer}/account/sessions`;
    const { csrf } = hiddenFields((await own.get(url)).text);
    const done = await own.post(url, { csrf });
    assert.match(done.text, /1 other browser was signed out\./);
    let t = await idsim(server, path.join(server.dir, 'zeno-thief.json'), ['enroll', code]);
    assert.equal(t.code, 1, t.stdout);
    assert.equal((await server.admin('GET', '/users/zeno/devices')).json.devices.length, 1);
    // Nor one made in a session an administrator ends.
    const again = shownEnrollCode((await enrollCode(own)).answer.text);
    assert.ok(again);
    const [{ sid }] = (await server.admin('GET', '/sessions?user=zeno')).json.sessions;
    assert.equal((await server.admin('DELETE', `/sessions?user=zeno&sid=${encodeURIComponent(sid)}`)).status, 200);
    t = await idsim(server, path.join(server.dir, 'zeno-thief2.json'), ['enroll', again]);
    assert.equal(t.code, 1, t.stdout);
  });

  test('/enroll: a user gets a few codes in ten minutes, then a 429 that writes nothing', async () => {
    const s = await seed(server, { user: 'yara' });
    s.config = await rp(s);
    const b = new Browser();
    const a = await authUrl(s.config);
    const r = await signIn(b, server.issuer, a.url.href, s.user, s.password);
    assert.equal(r.status, 302);
    assert.equal((await policyAsks('yara', true)).status, 200);
    const codes = new Set();
    for (let i = 0; i < 5; i++) {
      const e = (await enrollCode(b)).answer;
      assert.equal(e.status, 200, e.text);
      codes.add(shownEnrollCode(e.text));
    }
    assert.equal(codes.size, 5);
    for (let i = 0; i < 3; i++) {
      const e = (await enrollCode(b)).answer;
      assert.equal(e.status, 429);
      assert.equal(e.headers.get('retry-after'), '600');
      assert.match(e.text, /Use the last one you were shown/);
      assert.doesNotMatch(e.text, /<svg|<code>/, 'no new code');
    }
    const audit = await server.admin('GET', '/audit?limit=1000');
    assert.equal(audit.status, 200, audit.text);
    const made = audit.json.events.filter((ev) => ev.action === 'device.enroll_code' && ev.target === 'yara');
    assert.equal(made.length, 5, 'one audit event per code made, none for the refusals');
    // The last code shown still enrolls the phone, typed as the page shows it.
    const last = [...codes].pop().match(/.{1,4}/g).join(' ');
    const phone = await idsim(server, path.join(server.dir, 'phone-yara.json'), ['enroll', last, '--platform', 'none']);
    assert.equal(phone.code, 0, phone.stderr);
    // The code's id joins the phone enrolled to the code made, and tells
    // nothing of the code: a digest's first 12 hex digits.
    const id = createHash('sha256').update([...codes].pop()).digest('hex').slice(0, 12);
    assert.equal(new Set(made.map((ev) => ev.detail.code_id)).size, 5);
    assert.ok(made.some((ev) => ev.detail.code_id === id));
    const enrolled = (await server.admin('GET', '/audit?limit=20')).json.events
      .find((ev) => ev.action === 'device.enroll' && ev.target === 'yara');
    assert.equal(enrolled?.detail.code_id, id);
    assert.equal(enrolled.detail.code, 'password');
  });

  test('/enroll: a GET, or a post without the form token of the session, makes no code and writes nothing', async () => {
    const s = await seed(server, { user: 'zena' });
    s.config = await rp(s);
    const b = new Browser();
    const a = await authUrl(s.config);
    const r = await signIn(b, server.issuer, a.url.href, s.user, s.password);
    assert.equal(r.status, 302);
    // The same user's other session, to have a token of its own.
    const other = new Browser();
    assert.equal((await signIn(other, server.issuer, (await authUrl(s.config)).url.href, s.user, s.password)).status, 302);
    assert.equal((await policyAsks('zena', true)).status, 200);
    // More GETs than the codes a user may make: a page another site
    // sends the browser to uses none of them.
    let page;
    for (let i = 0; i < 7; i++) {
      page = await b.get(`${server.issuer}/enroll`);
      assert.equal(page.status, 200, page.text);
      assert.doesNotMatch(page.text, /<svg|<code>/, 'a GET makes no code');
    }
    const token = hiddenFields(page.text).csrf;
    assert.ok(token, 'the form carries a token');
    // The same user's other session has a token of its own.
    const otherToken = hiddenFields((await other.get(`${server.issuer}/enroll`)).text).csrf;
    assert.ok(otherToken);
    assert.notEqual(otherToken, token);
    const bad = [{}, { csrf: '' }, { csrf: 'x'.repeat(token.length) }, { csrf: token.slice(0, -1) },
      { csrf: `${token}A` }, { csrf: otherToken }, [['csrf', token], ['csrf', token]]];
    for (const form of bad) {
      const e = await b.post(`${server.issuer}/enroll`, form);
      assert.equal(e.status, 400, `${JSON.stringify(form)}: ${e.text}`);
      assert.match(e.headers.get('content-type'), /^text\/html/);
      assert.doesNotMatch(e.text, /<svg|<code>/, 'no enrollment code');
    }
    // Without the session cookie (another site's post) the token is nothing.
    const e = await new Browser().post(`${server.issuer}/enroll`, { csrf: token });
    assert.equal(e.status, 401);
    assert.doesNotMatch(e.text, /<svg|<code>/);
    const audit = await server.admin('GET', '/audit?limit=1000');
    assert.equal(audit.json.events.filter((ev) => ev.action === 'device.enroll_code' && ev.target === 'zena').length, 0,
      'no audit event');
    // Every code of the quota is still there, and the form's token works
    // again (a second click, the back button).
    for (let i = 0; i < 5; i++) {
      const c = await b.post(`${server.issuer}/enroll`, { csrf: token });
      assert.equal(c.status, 200, c.text);
      assert.match(shownEnrollCode(c.text) ?? '', /^[A-Z2-7]{16}$/);
    }
    const made = (await server.admin('GET', '/audit?limit=1000')).json.events.filter(
      (ev) => ev.action === 'device.enroll_code' && ev.target === 'zena');
    assert.equal(made.length, 5);
    assert.ok(made.every((ev) => ev.actor === 'user:zena' && ev.detail?.via === 'enroll_page'), JSON.stringify(made));
  });

  test('a password change by an administrator ends the user\'s sessions', async () => {
    const s = await seed(server, { user: 'pia' });
    s.config = await rp(s);
    const browsers = [new Browser(), new Browser()];
    for (const b of browsers) {
      const a = await authUrl(s.config);
      assert.equal((await signIn(b, server.issuer, a.url.href, s.user, s.password)).status, 302);
    }
    const sessions = async () => (await server.admin('GET', '/sessions?user=pia')).json.sessions.length;
    assert.equal(await sessions(), 2);
    // Single sign-on still answers at once before the change.
    let a = await authUrl(s.config);
    let r = await browsers[0].get(a.url.href);
    assert.equal(new URL(r.location).origin, 'http://127.0.0.1:9000', 'SSO before the change');
    // The name in the path in another case names the same user.
    const pw = await server.admin('PUT', '/users/Pia/password', { password: 'a new long passphrase' });
    assert.equal(pw.status, 200, pw.text);
    for (const b of browsers) {
      a = await authUrl(s.config);
      r = await b.get(a.url.href);
      assert.ok(isLoginForm(r), 'the sign-in form, not a code');
      assert.match(r.text, /name="password"/);
    }
    assert.equal(await sessions(), 0);
    // The old password is refused, the new one signs in.
    a = await authUrl(s.config);
    r = await signIn(browsers[0], server.issuer, a.url.href, s.user, s.password);
    assert.notEqual(r.status, 302, 'the old password');
    a = await authUrl(s.config);
    r = await signIn(browsers[1], server.issuer, a.url.href, s.user, 'a new long passphrase');
    assert.equal(r.status, 302, r.text);
    assert.equal(new URL(r.location).origin, 'http://127.0.0.1:9000');
    assert.equal(await sessions(), 1);
  });

  // POST /device/v1/enroll for code with a new key, signed as
  // docs/device-api.md says, ready to send (so that many go at once).
  function enrollRequest(code) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const { kty, crv, x, y } = publicKey.export({ format: 'jwk' });
    const body = JSON.stringify({ code, platform: 'none', public_key: { kty, crv, x, y } });
    const ts = String(Math.floor(Date.now() / 1000));
    const nonce = randomBytes(18).toString('base64url');
    const hash = createHash('sha256').update(body).digest('hex');
    const text = ['AF-DEVICE-V1', 'POST', '/device/v1/enroll', ts, nonce, hash].join('\n');
    const sig = sign('sha256', Buffer.from(text), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
    return () => fetch(`${server.issuer}/device/v1/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-af-timestamp': ts, 'x-af-nonce': nonce, 'x-af-signature': sig },
      body,
    });
  }

  test('parallel enrollments past the device limit: a 409 never spends its code', async () => {
    await seed(server, { user: 'xena', policy: { remote_access: true } });
    for (let i = 0; i < 4; i++) await enrollPhone(server, 'xena', ['--platform', 'none']);
    for (let round = 0; round < 3; round++) {
      const codes = [];
      for (let i = 0; i < 8; i++) {
        const ec = await server.admin('POST', '/users/xena/enroll-code');
        assert.equal(ec.status, 201, ec.text);
        codes.push(ec.json.code);
      }
      const ready = codes.map(enrollRequest);
      const answers = await Promise.all(ready.map((send) => send()));
      const statuses = answers.map((r) => r.status);
      assert.ok(statuses.every((st) => st === 201 || st === 409), statuses.join(' '));
      assert.ok(statuses.filter((st) => st === 201).length <= 1, statuses.join(' '));
      // Make room for every refused code, then each one must still enroll.
      const devices = (await server.admin('GET', '/users/xena/devices')).json.devices;
      const refused = codes.filter((c, i) => statuses[i] === 409);
      assert.equal(devices.length, 4 + codes.length - refused.length);
      for (const d of devices.slice(0, devices.length - 1)) {
        assert.equal((await server.admin('DELETE', `/devices/${d.id}`)).status, 200);
      }
      for (const c of refused.slice(0, 4)) {
        const again = await enrollRequest(c)();
        assert.equal(again.status, 201, `a refused code still enrolls: ${await again.text()}`);
      }
      let now = (await server.admin('GET', '/users/xena/devices')).json.devices;
      for (const d of now.slice(0, now.length - 4)) await server.admin('DELETE', `/devices/${d.id}`);
      now = (await server.admin('GET', '/users/xena/devices')).json.devices;
      assert.equal(now.length, 4);
    }
  });

  test('a user with the most phones allowed gets no enrollment code, from an administrator or from /enroll', async () => {
    const s = await mfaUser('yuri');
    for (let i = 0; i < 4; i++) await enrollPhone(server, 'yuri', ['--platform', 'none']);
    const ec = await server.admin('POST', '/users/yuri/enroll-code');
    assert.equal(ec.status, 409, ec.text);
    assert.equal(ec.json.code, undefined);
    assert.match(ec.json.message, /already has the most devices allowed: remove one first/);
    // The signed-in user at /enroll is told so, with no code to scan.
    const m = await toMfa(s);
    const [txn] = await pendingTxn(s);
    const ok = await idsim(server, s.phone, ['approve', txn, '--number', pageNumber(m.page.text)]);
    assert.equal(ok.code, 0, ok.stderr);
    await m.browser.get(m.mfaUrl);
    const { answer } = await enrollCode(m.browser);
    assert.equal(answer.status, 409, answer.text);
    assert.match(answer.text, /<p class="msg" role="alert">Your account already has 5 phones, the most it may have/);
    assert.match(answer.text, /<title>Too many phones: Set up your authenticator/);
    assert.equal(shownEnrollCode(answer.text), null);
    assert.doesNotMatch(answer.text, /<svg/);
    // One removed makes room again.
    const devices = (await server.admin('GET', '/users/yuri/devices')).json.devices;
    assert.equal((await server.admin('DELETE', `/devices/${devices[0].id}`)).status, 200);
    assert.equal((await server.admin('POST', '/users/yuri/enroll-code')).status, 201);
  });

  test('the digit pad types into the code field on a page with no push too', async () => {
    const js = await (await fetch(`${server.issuer}/static/mfa.js`)).text();
    // A page with the pad and the code field but no push (#mfa absent).
    const code = { value: '12' };
    const buttons = ['3', '4'].map((d) => ({
      digit: d, handler: null,
      getAttribute: () => d,
      addEventListener(type, fn) { if (type === 'click') this.handler = fn; },
    }));
    const document = {
      getElementById: (id) => (id === 'code' ? code : null),
      querySelectorAll: (q) => (q === '[data-digit]' ? buttons : []),
    };
    vm.runInNewContext(js, { document, setTimeout, setInterval, fetch, window: {} });
    for (const b of buttons) {
      assert.ok(b.handler, 'a click handler on each digit');
      b.handler({ target: b });
    }
    assert.equal(code.value, '1234');
  });

  test('the MFA page script: a GET, never a reload; a code being typed is kept; the number follows the status', async () => {
    const js = await (await fetch(`${server.issuer}/static/mfa.js`)).text();
    // Runs the script against a page whose status poll answers answer;
    // returns what it did to the page.
    const run = async (answer, typed) => {
      const code = { value: typed };
      const num = { textContent: '40' };
      const m = {
        textContent: 'the push part',
        getAttribute: (a) => ({ 'data-status': '/login/mfa/status?flow=F1', 'data-expires-in': '30' })[a],
        querySelector: (q) => (q === '.number' ? num : null),
      };
      const document = {
        getElementById: (id) => ({ code, mfa: m })[id] ?? null,
        querySelectorAll: () => [],
      };
      const went = [];
      const timers = [];
      const window = { location: { replace: (u) => went.push(u), reload: () => went.push('RELOAD') } };
      const fakeFetch = async () => ({ json: async () => answer });
      vm.runInNewContext(js, {
        document, window, fetch: fakeFetch,
        setTimeout: (fn) => timers.push(fn), setInterval: () => 1, clearInterval: () => {},
      });
      timers.shift()(); // the first poll
      await new Promise((res) => setTimeout(res, 20));
      return { went, code: code.value, text: m.textContent, number: num.textContent, polls: timers.length };
    };
    let r = await run({ state: 'denied' }, '');
    assert.deepEqual(r.went, ['/login/mfa?flow=F1'], 'the page again by GET');
    r = await run({ state: 'expired' }, '4821');
    assert.deepEqual(r.went, [], 'no navigation while a code is typed');
    assert.equal(r.code, '4821');
    assert.match(r.text, /no longer waiting/);
    // An end no code can finish: the page again, a code typed or not.
    for (const state of ['denied', 'failed', 'reported', 'cancelled']) {
      r = await run({ state }, '4821');
      assert.deepEqual(r.went, ['/login/mfa?flow=F1'], state);
    }
    r = await run({ state: 'pending', number: 53, expires_in: 20 }, '');
    assert.equal(r.number, '53', 'the number of the flow\'s current challenge');
    assert.equal(r.polls, 1, 'asks again');
    r = await run({ state: 'approved', next: '/login/mfa?flow=F1&go=1' }, '12');
    assert.deepEqual(r.went, ['/login/mfa?flow=F1&go=1']);
    // A flow ended in another tab: the page says so and stops polling.
    r = await run({ error: 'no_flow' }, '');
    assert.deepEqual(r.went, []);
    assert.match(r.text, /This sign-in has ended, here or in another tab/);
    assert.equal(r.polls, 0, 'asks no more');
  });

  test('a phone that stops taking pushes is not told its token was refused', async () => {
    const s = await mfaUser('tobin', ['--platform', 'apns', '--push-token', 'c'.repeat(64), '--app-version', '2024.1']);
    const platform = async () => (await server.admin('GET', '/users/tobin/devices')).json.devices[0].platform;
    let r = await idsim(server, s.phone, ['push-token', 'd'.repeat(64), '--platform', 'none']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '', 'platform none: no push, and no word of a refused token');
    assert.equal(await platform(), 'none');
    r = await idsim(server, s.phone, ['push-token', 'e'.repeat(64), '--platform', 'fcm']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.equal(await platform(), 'fcm');
    // An administrator's code and the phone it enrolled share the code's id.
    const events = (await server.admin('GET', '/audit?limit=200')).json.events;
    const made = events.find((ev) => ev.action === 'device.enroll_code' && ev.target === 'tobin');
    const enrolled = events.find((ev) => ev.action === 'device.enroll' && ev.target === 'tobin');
    assert.match(made?.detail.code_id ?? '', /^[0-9a-f]{12}$/);
    assert.equal(enrolled?.detail.code_id, made.detail.code_id);
    assert.equal(enrolled.detail.code, 'administrator');
  });

  test('legacy mode and old app versions get no push, only the token code', async () => {
    const s = await mfaUser('quin', ['--platform', 'apns', '--push-token', 'a'.repeat(64), '--app-version', '2022.1']);
    let w = await server.admin('PATCH', '/workflow', { min_app_version: { ios: '2023.2' } });
    assert.equal(w.status, 200, w.text);
    let m = await toMfa(s);
    assert.equal(pageNumber(m.page.text), null);
    assert.equal((await server.admin('GET', '/push/queue?limit=1000')).json.jobs.filter((j) => j.user === 'quin').length, 0);
    w = await server.admin('PATCH', '/workflow', { min_app_version: {}, legacy: true });
    assert.equal(w.status, 200, w.text);
    m = await toMfa(s);
    assert.equal(pageNumber(m.page.text), null);
    assert.equal((await server.admin('GET', '/push/queue?limit=1000')).json.jobs.filter((j) => j.user === 'quin').length, 0);
    // With no push to cancel, a user disabled meanwhile is told at once,
    // rather than offered a code form that cannot succeed.
    assert.match((await m.browser.get(m.mfaUrl)).text, /name="code"/);
    assert.equal((await server.admin('PATCH', '/users/quin', { enabled: false })).status, 200);
    const gone = await m.browser.get(m.mfaUrl);
    assert.equal(gone.status, 403);
    assert.match(gone.text, /Your account cannot sign in at the moment\./);
    assert.match(gone.text, /Back to the application/);
    assert.doesNotMatch(gone.text, /name="code"/);
    assert.equal((await server.admin('PATCH', '/users/quin', { enabled: true })).status, 200);
    await server.admin('PATCH', '/workflow', { legacy: false });
    m = await toMfa(s);
    assert.ok(pageNumber(m.page.text));
    const jobs = (await server.admin('GET', '/push/queue?limit=1000')).json.jobs.filter((j) => j.user === 'quin');
    assert.equal(jobs.length, 1);
    assert.equal(jobs[0].number, undefined, 'a push job never carries the number');
  });

  test('a user without a device is told to enroll', async () => {
    const s = await seed(server, { user: 'rosa', policy: { remote_access: true } });
    const config = await rp(s);
    const a = await authUrl(config);
    const r = await signIn(new Browser(), server.issuer, a.url.href, s.user, s.password);
    assert.equal(r.status, 200);
    assert.match(r.text, /Set up your authenticator/);
    assert.match(r.text, /<svg/);
    const audit = (await server.admin('GET', '/audit?limit=50')).json.events;
    assert.ok(audit.some((e) => e.action === 'device.enroll_code' && e.actor === 'user:rosa'));
    // That code came from the password alone: once rosa has a phone (here
    // from an administrator's code), it enrolls nothing more.
    const pageCode = shownEnrollCode(r.text);
    assert.match(pageCode ?? '', /^[A-Z2-7]{16}$/);
    await enrollPhone(server, 'rosa');
    const late = await idsim(server, path.join(server.dir, 'phone-rosa-late.json'), ['enroll', pageCode, '--platform', 'none']);
    assert.notEqual(late.code, 0, 'a password-only code after the first phone');
    assert.equal((await server.admin('GET', '/users/rosa/devices')).json.devices.length, 1);
  });

  test('signing in again renews the session, unless another phone than its own passed it', async () => {
    const s = await seed(server, { user: 'oren' });
    const phoneArgs = ['--platform', 'none', '--app-version', '2024.1'];
    s.phone = await enrollPhone(server, 'oren', phoneArgs);
    s.config = await rp(s);
    const b = new Browser();
    const approve = async (phone, m) => {
      const [txn] = await pendingTxn(s);
      const ok = await idsim(server, phone, ['approve', txn, '--number', pageNumber(m.page.text)]);
      assert.equal(ok.stdout, 'approved', ok.stderr);
      return finish(s, m);
    };
    const sessions = async () => (await server.admin('GET', '/sessions?user=oren')).json.sessions;
    // A password session, then an application's step-up: the same
    // session (sid), now with the phone.
    const a = await authUrl(s.config);
    const r = await signIn(b, server.issuer, a.url.href, s.user, s.password);
    assert.equal(r.status, 302, r.text);
    const t0 = await client.authorizationCodeGrant(s.config, new URL(r.location), {
      pkceCodeVerifier: a.verifier, expectedState: a.state, expectedNonce: a.nonce,
    });
    const stepUp = { acr_values: 'urn:authflow:acr:mfa' };
    const t1 = await approve(s.phone, await toMfa(s, b, stepUp));
    assert.equal(t1.claims().acr, 'urn:authflow:acr:mfa');
    assert.equal(t1.claims().sid, t0.claims().sid, 'a step-up renews the session');
    assert.equal((await sessions()).length, 1);
    // Another of the user's phones passes the next sign-in: the session
    // the first phone passed ends (removing that phone would have ended
    // it), and a new one begins.
    const second = await enrollPhone(server, 'oren', phoneArgs);
    const again = { ...stepUp, prompt: 'login' };
    const t2 = await approve(second, await toMfa(s, b, again));
    assert.notEqual(t2.claims().sid, t1.claims().sid, 'another phone: a new session');
    assert.deepEqual((await sessions()).map((x) => x.sid), [t2.claims().sid]);
    // The same phone again: the same session.
    const t3 = await approve(second, await toMfa(s, b, again));
    assert.equal(t3.claims().sid, t2.claims().sid);
    assert.equal((await sessions()).length, 1);
  });

  test('a password alone enrolls no phone where only the application asks for the second step', async () => {
    // Whoever knows the password of a user who signs in with it alone
    // must not choose when that user's second factor is set up.
    const s = await seed(server, { user: 'tove' });
    const config = await rp(s);
    const stepUp = { acr_values: 'urn:authflow:acr:mfa' };
    let a = await authUrl(config, stepUp);
    let r = await signIn(new Browser(), server.issuer, a.url.href, s.user, s.password);
    assert.equal(r.status, 200, r.text);
    assert.match(r.text, /This application asks for a second sign-in step, and no phone is enrolled on your account/);
    assert.match(r.text, /Ask your administrator for an enrollment code/);
    assert.doesNotMatch(r.text, /<svg|authflow:\/\/enroll|<code>/, 'no enrollment code');
    const codes = async () => (await server.admin('GET', '/audit?limit=100')).json.events
      .filter((e) => e.action === 'device.enroll_code' && e.target === 'tove').length;
    assert.equal(await codes(), 0);
    // Once the policy asks for it, the password sets up the first phone;
    // a code shown then enrolls nothing once the policy no longer asks.
    assert.equal((await policyAsks('tove', true)).status, 200);
    a = await authUrl(config);
    r = await signIn(new Browser(), server.issuer, a.url.href, s.user, s.password);
    assert.equal(r.status, 200, r.text);
    assert.match(r.text, /no phone is enrolled for it yet/);
    const pageCode = shownEnrollCode(r.text);
    assert.match(pageCode ?? '', /^[A-Z2-7]{16}$/);
    assert.equal(await codes(), 1);
    assert.equal((await policyAsks('tove', false)).status, 200);
    const t = await idsim(server, path.join(server.dir, 'phone-tove.json'), ['enroll', pageCode, '--platform', 'none']);
    assert.equal(t.code, 1, t.stdout);
    assert.equal((await server.admin('GET', '/users/tove/devices')).json.devices.length, 0);
    assert.match(server.stderr(), /action=enroll user=tove reason=policy/);
  });

  test('an administrator\'s change during the second step holds when it ends', async () => {
    const s = await mfaUser('una');
    // A password step with its challenge, and what the browser gets
    // once the phone approved it (the status poll's next URL).
    const start = async () => {
      const m = await toMfa(s);
      const [txn] = await pendingTxn(s);
      return { m, txn };
    };
    const ended = async ({ m, txn }) => {
      const ok = await idsim(server, s.phone, ['approve', txn, '--number', pageNumber(m.page.text)]);
      assert.equal(ok.stdout, 'approved', ok.stderr);
      const flow = new URL(m.mfaUrl).searchParams.get('flow');
      const st = JSON.parse((await m.browser.get(`${server.issuer}/login/mfa/status?flow=${flow}`)).text);
      return m.browser.get(new URL(st.next ?? m.mfaUrl, server.issuer).href);
    };
    const sessions = async () => (await server.admin('GET', '/sessions?user=una')).json.sessions.length;
    // Disabled while the push waits: the push is taken back; no session,
    // no code, also once the account is enabled again.
    let f = await start();
    assert.equal((await server.admin('PATCH', '/users/una', { enabled: false })).status, 200);
    const late = await idsim(server, s.phone, ['approve', f.txn, '--number', pageNumber(f.m.page.text)]);
    assert.match(late.stderr, /already decided \(state cancelled\)/);
    assert.equal((await server.admin('PATCH', '/users/una', { enabled: true })).status, 200);
    let r = await f.m.browser.get(f.m.mfaUrl);
    // Not the user's doing, and they may sign in again: the page says so.
    assert.match(r.text, /Your sign-in was stopped by an administrator/);
    assert.doesNotMatch(r.text, /The sign-in was cancelled/);
    assert.doesNotMatch(r.headers.get('location') ?? '', /code=/);
    assert.equal(await sessions(), 0);
    // The policy's single sign-on switched off meanwhile.
    const policy = 'sso-una';
    f = await start();
    assert.equal((await server.admin('PATCH', `/policies/${encodeURIComponent(policy)}`, { sso: false })).status, 200);
    r = await ended(f);
    assert.equal(r.status, 403, r.text);
    assert.match(r.text, /not enabled for single sign-on/);
    assert.equal(await sessions(), 0);
    assert.equal((await server.admin('PATCH', `/policies/${encodeURIComponent(policy)}`, { sso: true })).status, 200);
    // Unchanged, the same steps finish the sign-in.
    f = await start();
    r = await ended(f);
    assert.equal(r.status, 302, r.text);
    assert.ok(new URL(r.location).searchParams.get('code'));
    assert.equal(await sessions(), 1);
  });

  test('a new password or ended sessions during the second step end that sign-in', async () => {
    const s = await mfaUser('ulla');
    const sessions = async () => (await server.admin('GET', '/sessions?user=ulla')).json.sessions.length;
    for (const change of [
      () => server.admin('PUT', '/users/ulla/password', { password: 'ulla-new-password' }),
      () => server.admin('DELETE', '/sessions?user=ulla'),
    ]) {
      const m = await toMfa(s);
      const [txn] = await pendingTxn(s);
      assert.equal((await change()).status, 200);
      // The push on the phone is taken back; the password checked before
      // does not finish the sign-in with a token code either.
      assert.equal((await idsim(server, s.phone, ['pending'])).stdout, '', 'no push waits');
      const late = await idsim(server, s.phone, ['approve', txn, '--number', pageNumber(m.page.text)]);
      assert.notEqual(late.code, 0, late.stdout);
      const f = hiddenFields(m.page.text);
      const code = (await idsim(server, s.phone, ['code'])).stdout;
      const r = await m.browser.post(`${server.issuer}/login/mfa/code`, { flow: f.flow, csrf: f.csrf, code });
      assert.match(r.text, /Your sign-in was stopped by an administrator/);
      assert.doesNotMatch(r.headers.get('location') ?? '', /code=/);
      assert.equal(await sessions(), 0);
      s.password = 'ulla-new-password';
    }
    const m = await toMfa(s);
    const code = (await idsim(server, s.phone, ['code'])).stdout;
    const f = hiddenFields(m.page.text);
    // As an authenticator app shows it, and people copy it: "123 456".
    const spaced = `${code.slice(0, 3)} ${code.slice(3)}`;
    const r = await m.browser.post(`${server.issuer}/login/mfa/code`, { flow: f.flow, csrf: f.csrf, code: spaced });
    assert.equal(r.status, 302, r.text);
    assert.equal(await sessions(), 1, 'the new password signs in');
    // A name with no user (one removed, say) has only sessions to end.
    const none = await server.admin('DELETE', '/sessions?user=nobody-here');
    assert.equal(none.status, 200, none.text);
    assert.equal(none.json.ended, 0);
  });

  test('ended sign-ins enroll nothing: neither the old session at /enroll nor a code made before', async () => {
    const s = await seed(server, { user: 'vito' });
    s.config = await rp(s);
    const changes = {
      passwd: () => server.admin('PUT', '/users/vito/password', { password: s.password }),
      sessions: () => server.admin('DELETE', '/sessions?user=vito'),
      disable: async () => {
        const off = await server.admin('PATCH', '/users/vito', { enabled: false });
        return off.status === 200 ? server.admin('PATCH', '/users/vito', { enabled: true }) : off;
      },
    };
    for (const [why, change] of Object.entries(changes)) {
      const b = new Browser();
      const a = await authUrl(s.config);
      assert.equal((await policyAsks('vito', false)).status, 200);
      assert.equal((await signIn(b, server.issuer, a.url.href, s.user, s.password)).status, 302);
      assert.equal((await policyAsks('vito', true)).status, 200);
      const e = (await enrollCode(b)).answer;
      assert.equal(e.status, 200, e.text);
      const code = shownEnrollCode(e.text);
      assert.equal((await change()).status, 200, why);
      assert.equal((await server.admin('GET', '/sessions?user=vito')).json.sessions.length, 0, `sessions after ${why}`);
      const page = await b.get(`${server.issuer}/enroll`);
      assert.equal(page.status, 401, `the old session at /enroll after ${why}`);
      const phone = await idsim(server, path.join(server.dir, `phone-vito-${why}.json`), ['enroll', code, '--platform', 'none']);
      assert.notEqual(phone.code, 0, `a code made before ${why} still enrolled: ${phone.stdout}`);
    }
    // An administrator's code made after the change enrolls.
    const ec = await server.admin('POST', '/users/vito/enroll-code');
    assert.equal(ec.status, 201, ec.text);
    const phone = await idsim(server, path.join(server.dir, 'phone-vito.json'), ['enroll', ec.json.code, '--platform', 'none']);
    assert.equal(phone.code, 0, phone.stderr);
  });

  test('a removed phone is not replaced with the password alone', async () => {
    const s = await mfaUser('ruth');
    const list = await server.admin('GET', '/users/ruth/devices');
    assert.equal(list.json.devices.length, 1);
    const id = list.json.devices[0].id;
    assert.equal((await server.admin('DELETE', `/devices/${id}`)).status, 200);
    // The phone learns it on its next request, which it signs anew and
    // sends once more before it believes one 401.
    const refused = () => server.stderr().split('\n').filter((l) => l.includes(`reason=device device=${id}`)).length;
    const counted = async () => Number((await (await fetch(`${server.issuer}/metrics`)).text())
      .match(/^authflow_device_refusals_total\{reason="device"\} (\d+)$/m)[1]);
    const before = await counted();
    const p = await idsim(server, s.phone, ['pending']);
    assert.equal(p.code, 1);
    assert.match(p.stderr, /not signed by an enrolled device/);
    assert.equal(refused(), 2);
    assert.equal(await counted(), before + 2, 'counted by reason');
    const a = await authUrl(s.config);
    const r = await signIn(new Browser(), server.issuer, a.url.href, s.user, s.password);
    assert.equal(r.status, 200);
    assert.match(r.text, /its phone was removed/);
    assert.doesNotMatch(r.text, /<svg/, 'no enrollment QR code');
    assert.match(r.text, /Ask your administrator/);
    // An administrator's code enrolls the new phone.
    s.phone = await enrollPhone(server, 'ruth');
    const m = await toMfa(s);
    assert.ok(pageNumber(m.page.text));
  });

  test('concurrent answers to one transaction: exactly one wins', async () => {
    const s = await mfaUser('sam');
    const m = await toMfa(s);
    const number = pageNumber(m.page.text);
    const [txn] = await pendingTxn(s);
    const answers = await Promise.all([0, 1, 2, 3].map(() => idsim(server, s.phone, ['approve', txn, '--number', number])));
    assert.equal(answers.filter((a) => a.code === 0).length, 1, JSON.stringify(answers));
    await finish(s, m);
  });

  test('a password posted twice at once (a double click) makes one challenge, which finishes the sign-in', async () => {
    const s = await mfaUser('dora');
    // Two rounds: the push limit (3 in 5 minutes) counts the one
    // challenge of each; the second click, at once or just after the
    // first, sends no push of its own (were it counted, the second
    // round's second click would meet the limit).
    for (let round = 0; round < 2; round++) {
      const browser = new Browser();
      const a = await authUrl(s.config);
      const o = await openAuthorize(browser, server.issuer, a.url.href);
      assert.ok(o.fields, 'the sign-in form');
      const post = () => browser.post(`${server.issuer}/login`, { ...o.fields, username: s.user, password: s.password });
      const posts = await Promise.all([post(), post()]);
      for (const r of posts) {
        assert.equal(r.status, 303, r.text);
        assert.match(r.location, /^\/login\/mfa\?flow=/);
      }
      // Exactly one challenge reaches the phone, and it is the page's.
      const mfaUrl = new URL(posts[0].location, server.issuer).href;
      const page = await browser.get(mfaUrl);
      const number = pageNumber(page.text);
      const [txn] = await pendingTxn(s);
      const ok = await idsim(server, s.phone, ['approve', txn, '--number', number]);
      assert.equal(ok.stdout, 'approved', ok.stderr);
      const t = await finish(s, { browser, a, mfaUrl });
      assert.deepEqual(t.claims().amr, ['pwd', 'swk', 'mfa']);
    }
  });

  test('a double click on the last push the limit allows still sends that push', async () => {
    for (let trial = 0; trial < 4; trial++) {
      const s = await mfaUser(`lim${trial}`);
      // Two sign-ins denied on the phone: two of the three pushes used.
      for (let i = 0; i < 2; i++) {
        await toMfa(s);
        const [txn] = await pendingTxn(s);
        assert.equal((await idsim(server, s.phone, ['deny', txn])).stdout, 'denied');
      }
      const browser = new Browser();
      const a = await authUrl(s.config);
      const o = await openAuthorize(browser, server.issuer, a.url.href);
      const post = () => browser.post(`${server.issuer}/login`, { ...o.fields, username: s.user, password: s.password });
      const posts = await Promise.all([post(), post()]);
      const page = await browser.get(new URL(posts[0].location, server.issuer).href);
      assert.match(pageNumber(page.text) ?? '', /^[1-9][0-9]$/, `trial ${trial}: the last push is sent`);
      await pendingTxn(s);
    }
  });

  test('another request: none for an answered request, a forged form or a user disabled meanwhile; one once a pause is lifted', async () => {
    const s = await mfaUser('rosalind');
    let m = await toMfa(s);
    let [txn] = await pendingTxn(s);
    const flow = new URL(m.mfaUrl).searchParams.get('flow');
    const fields = hiddenFields(m.page.text);
    // Without the flow's csrf token: refused, nothing sent.
    const forged = await m.browser.post(`${server.issuer}/login/mfa/push`, { flow });
    assert.equal(forged.status, 400, forged.text);
    const wrong = await m.browser.post(`${server.issuer}/login/mfa/push`, { flow, csrf: 'x'.repeat(32) });
    assert.notEqual(wrong.status, 303);
    // Another browser, even with the form's fields, is not this flow's.
    const other = await new Browser().post(`${server.issuer}/login/mfa/push`, fields);
    assert.notEqual(other.status, 303);
    assert.equal((await pendingTxn(s))[0], txn, 'still the one request');
    // Denied: the sign-in ends; asking again sends nothing.
    assert.equal((await idsim(server, s.phone, ['deny', txn])).stdout, 'denied');
    const denied = await m.browser.post(`${server.issuer}/login/mfa/push`, fields);
    assert.equal(denied.status, 200);
    assert.match(denied.text, /<title>Denied on your phone: Sign-in not completed<\/title>/);
    assert.equal((await idsim(server, s.phone, ['pending'])).stdout, '');
    // Reported: pushes pause; the next sign-in gets none and no button.
    m = await toMfa(s);
    [txn] = await pendingTxn(s);
    assert.equal((await idsim(server, s.phone, ['deny', txn, '--report'])).stdout, 'reported');
    m = await toMfa(s);
    assert.equal(pageNumber(m.page.text), null);
    assert.doesNotMatch(m.page.text, /action="\/login\/mfa\/push"/);
    // Lifted: the page offers a request, which goes without the password.
    assert.equal((await server.admin('POST', '/users/rosalind/unlock')).status, 200);
    const lifted = await m.browser.get(m.mfaUrl);
    assert.match(lifted.text, /the pause is over now/);
    assert.match(lifted.text, /<button type="submit">Send a request to my phone<\/button>/);
    const sent = await askAgain(m, lifted);
    assert.equal(sent.status, 303, sent.text);
    const number = pageNumber((await m.browser.get(m.mfaUrl)).text);
    assert.ok(number, 'the number of the new request');
    [txn] = await pendingTxn(s);
    assert.equal((await idsim(server, s.phone, ['approve', txn, '--number', number])).stdout, 'approved');
    assert.deepEqual((await finish(s, m)).claims().amr, ['pwd', 'swk', 'mfa']);
    // A user disabled while the pause held gets no request once it is
    // lifted: the sign-in ends.
    m = await toMfa(s);
    [txn] = await pendingTxn(s);
    assert.equal((await idsim(server, s.phone, ['deny', txn, '--report'])).stdout, 'reported');
    m = await toMfa(s);
    assert.equal((await server.admin('POST', '/users/rosalind/unlock')).status, 200);
    const before = await m.browser.get(m.mfaUrl);
    assert.equal((await server.admin('PATCH', '/users/rosalind', { enabled: false })).status, 200);
    const off = await askAgain(m, before);
    assert.equal(off.status, 403, off.text);
    assert.match(off.text, /Your account cannot sign in at the moment/);
    assert.equal((await idsim(server, s.phone, ['pending'])).stdout, '');
  });

  test('a policy can take its users out of number matching (for those who cannot transcribe a number), or back to the workflow', async () => {
    const s = await seed(server, { user: 'norma', policy: { remote_access: true, number_matching: false } });
    s.phone = await enrollPhone(server, 'norma');
    s.config = await rp(s);
    let m = await toMfa(s);
    assert.equal(pageNumber(m.page.text), null);
    assert.match(m.page.text, /Approve the request in your authenticator app/);
    let [txn, , , kind] = await pendingTxn(s);
    assert.equal(kind, 'nonumber');
    // No number to give: the phone would show no field for one.
    const typed = await idsim(server, s.phone, ['approve', txn, '--number', '42']);
    assert.equal(typed.code, 2);
    assert.match(typed.stderr, /this challenge asks for no number \(the sign-in page shows none\): approve it without --number/);
    assert.equal((await idsim(server, s.phone, ['approve', txn])).stdout, 'approved');
    assert.deepEqual((await finish(s, m)).claims().amr, ['pwd', 'swk', 'mfa']);
    // Back to the workflow's setting (on), through authflowctl.
    let r = ctl(server, ['policy', 'set', 'sso-norma', '--number-matching', 'workflow']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^number_matching: workflow$/m);
    m = await toMfa(s);
    assert.match(pageNumber(m.page.text) ?? '', /^[1-9][0-9]$/);
    [txn, , , kind] = await pendingTxn(s);
    assert.equal(kind, 'number');
    assert.equal((await idsim(server, s.phone, ['deny', txn])).stdout, 'denied');
    r = ctl(server, ['policy', 'set', 'sso-norma', '--number-matching', 'maybe']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--number-matching takes on, off or workflow, not 'maybe'/);
    const bad = await server.admin('PATCH', '/policies/sso-norma', { number_matching: 'off' });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.message, 'number_matching: must be true, false or null');
    assert.equal((await server.admin('GET', '/policies/sso-norma')).json.number_matching, null);
  });

  test('user show has the push pause and limit, and unlock lifts them', async () => {
    const s = await mfaUser('saul');
    await toMfa(s);
    const [txn] = await pendingTxn(s);
    assert.equal((await idsim(server, s.phone, ['deny', txn, '--report'])).stdout, 'reported');
    const u = await server.admin('GET', '/users/saul');
    assert.ok(u.json.push_paused_until >= Math.floor(Date.now() / 1000) + 890, u.text);
    assert.match(ctl(server, ['user', 'show', 'saul']).stdout, /^push_paused_until: \d{4}-/m);
    assert.equal((await server.admin('POST', '/users/saul/unlock')).status, 200);
    assert.equal((await server.admin('GET', '/users/saul')).json.push_paused_until, null);
  });

  test('idsim refuses what the device API would refuse before it spends the code', async () => {
    await seed(server, { user: 'ida', policy: { remote_access: true } });
    const ec = await server.admin('POST', '/users/ida/enroll-code');
    assert.equal(ec.status, 201, ec.text);
    const file = path.join(server.dir, `phone-ida-${randomBytes(4).toString('hex')}.json`);
    for (const [args, why] of [
      [['--app-version', 'v'.repeat(33)], /--app-version must be 1 to 32 visible characters/],
      [['--platform', 'fcm', '--push-token', 't'.repeat(513)], /--push-token must be 1 to 512 visible characters/],
      [['--name', 'n'.repeat(65)], /--name must be 1 to 64 bytes/],
      [['--name', 'a\nb'], /--name must be .* without control characters/],
    ]) {
      const r = await idsim(server, file, ['enroll', ec.json.code, ...args]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, why);
    }
    const ok = await idsim(server, file, ['enroll', ec.json.code, '--platform', 'fcm', '--push-token', 't'.repeat(512), '--app-version', 'v'.repeat(32)]);
    assert.equal(ok.code, 0, ok.stderr);
  });

  test('idsim approve against a server that answers no challenge says so', async () => {
    await seed(server, { user: 'ivo', policy: { remote_access: true } });
    const file = await enrollPhone(server, 'ivo', ['--platform', 'none']);
    // Answers every request 200 with an empty JSON object.
    const fake = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{}'); });
    });
    await new Promise((res) => fake.listen(0, '127.0.0.1', res));
    try {
      const at = { issuer: `http://127.0.0.1:${fake.address().port}` };
      const txn = 'A'.repeat(22);
      for (const args of [['approve', txn], ['approve', txn, '--number', '42']]) {
        const r = await idsim(at, file, args);
        assert.equal(r.code, 3, r.stderr);
        assert.equal(r.stdout, '');
        assert.equal(r.stderr, 'idsim: unexpected answer from the server: is --url an authflow server?');
      }
    } finally {
      fake.close();
    }
  });

  test('with the remote_access_mfa feature off the password suffices', async () => {
    const off = await startServer({ store: STORE, features: { remote_access_mfa: false } });
    try {
      const s = await seed(off, { user: 'uma', policy: { remote_access: true } });
      await enrollPhone(off, 'uma', ['--platform', 'none']);
      const config = await discover(off, s);
      const a = await authUrl(config);
      const r = await signIn(new Browser(), off.issuer, a.url.href, s.user, s.password);
      assert.equal(r.status, 302, r.text);
      const t = await client.authorizationCodeGrant(config, new URL(r.location), {
        pkceCodeVerifier: a.verifier, expectedState: a.state, expectedNonce: a.nonce,
      });
      assert.deepEqual(t.claims().amr, ['pwd']);
      // An administrator can see that the file overrides the policies.
      const st = ctl(off, ['status']);
      assert.equal(st.code, 0, st.stderr);
      assert.match(st.stdout, /^remote_access_mfa: OFF \(features\.remote_access_mfa: remote-access policies sign in with the password alone\)$/m);
      assert.match(st.stdout, /^sso: on$/m);
      assert.deepEqual((await off.admin('GET', '/status')).json.features, { sso: true, remote_access_mfa: false });
    } finally {
      await off.stop();
    }
  });
  test('the push limit is logged, counted and audited once; the page says when pushes resume; a higher count applies at once', async () => {
    // A server of its own: the workflow and the metrics are the server's.
    const shared = server;
    server = await startServer({ store: STORE });
    try {
      const s = await mfaUser('lena');
      let w = await server.admin('PATCH', '/workflow', { push_limit: { count: 1, period_s: 600 } });
      assert.equal(w.status, 200, w.text);
      let m = await toMfa(s);
      assert.ok(pageNumber(m.page.text), 'the one push of the period');
      for (let i = 0; i < 2; i++) {
        m = await toMfa(s);
        assert.equal(pageNumber(m.page.text), null);
        // A duration, not a clock time: the server's clock is not the reader's.
        assert.match(m.page.text, /Too many sign-in requests were sent to your phone\. More can be sent in about (9|10) minutes/);
        assert.match(m.page.text, /Your service desk can lift the limit sooner/);
      }
      const events = (await server.admin('GET', '/audit?limit=100')).json.events.filter((e) => e.action === 'mfa.push_limited');
      assert.equal(events.length, 1, 'one audit event per period, not one per sign-in');
      assert.equal(events[0].target, 'lena');
      assert.match(events[0].actor, /^ip:/);
      assert.equal(events[0].detail.count, 1);
      assert.equal(events[0].detail.period_s, 600);
      assert.equal(await mfaCount('push_limited'), 2, 'every refused push counted');
      // A sign-in event like the others: user, ip and outcome as members.
      const logged = server.stderr().split('\n').filter((l) => l.includes('"push_limited"')).map((l) => JSON.parse(l));
      assert.equal(logged.length, 2, server.stderr());
      for (const l of logged) {
        assert.equal(l.level, 'warn');
        assert.equal(l.event, 'login');
        assert.equal(l.user, 'lena');
        assert.equal(l.ip, '127.0.0.1');
        assert.equal(l.outcome, 'push_limited');
        assert.match(l.msg, /^resume_in_s=\d+$/);
      }
      // A higher count reaches the period already running: refused
      // sign-ins used none of it.
      w = await server.admin('PATCH', '/workflow', { push_limit: { count: 2 } });
      assert.equal(w.status, 200, w.text);
      m = await toMfa(s);
      assert.ok(pageNumber(m.page.text), 'a push within the higher count');
    } finally {
      await server.stop();
      server = shared;
    }
  });

  test('a report pause: the page says how long it lasts; switched off, it ends for the paused user too', async () => {
    const s = await mfaUser('mira');
    let m = await toMfa(s);
    const [txn] = await pendingTxn(s);
    assert.equal((await idsim(server, s.phone, ['deny', txn, '--report'])).stdout, 'reported');
    const page = (await m.browser.get(m.mfaUrl)).text;
    assert.match(page, /reported as not yours\. Sign-in requests to your phone are paused; they start again in about 15 minutes\. Your service desk can lift the pause sooner\./);
    m = await toMfa(s);
    assert.equal(pageNumber(m.page.text), null);
    assert.match(m.page.text, /paused after a request was reported as not yours; they start again in about (14|15) minutes/);
    assert.match(m.page.text, /Your service desk can lift the pause sooner/);
    // The help desk sees no pause to lift by hand: the setting ends it.
    assert.equal((await server.admin('PATCH', '/workflow', { report_pause_s: 0 })).status, 200);
    try {
      m = await toMfa(s);
      assert.ok(pageNumber(m.page.text), 'the pause ended with the setting');
    } finally {
      assert.equal((await server.admin('PATCH', '/workflow', { report_pause_s: 900 })).status, 200);
    }
  });

  test('authflowctl user unlock says it lifts push pauses and limits', async () => {
    const r = ctl(server, ['user', 'unlock', '--help']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /unlock NAME\n\s+\(unlock: lifts the sign-in lock and delay, and the pause\n\s+of pushes to the phone after a report or at the push limit\)/);
  });

  test('an approval without the number is refused: the sign-in waits, and no wrong number is counted', async () => {
    const s = await seed(server, { user: 'nell', policy: { remote_access: true } });
    s.config = await rp(s);
    const phone = await rawPhone('nell');
    const m = await toMfa(s);
    const number = pageNumber(m.page.text);
    const list = await phone.call('GET', '/device/v1/challenges');
    assert.equal(list.status, 200, JSON.stringify(list.json));
    const { txn } = list.json.challenges[0];
    // A browser that names nothing known (node's fetch): no member.
    assert.equal(list.json.challenges[0].ip, '127.0.0.1');
    assert.equal(list.json.challenges[0].browser, undefined);
    assert.ok(Number.isInteger(list.json.challenges[0].created_at));
    const failed = await mfaCount('failed');
    const bare = await phone.call('POST', `/device/v1/challenges/${txn}`, { decision: 'approve' });
    assert.equal(bare.status, 400, JSON.stringify(bare.json));
    assert.equal(bare.json.error, 'bad_request');
    assert.equal((await phone.call('GET', `/device/v1/challenges/${txn}`)).json.state, 'pending');
    assert.equal((await flowStatus(m)).state, 'pending');
    assert.equal(await mfaCount('failed'), failed, 'not a wrong number');
    const audit = (await server.admin('GET', '/audit?limit=100')).json.events;
    assert.ok(!audit.some((e) => e.action === 'mfa.wrong_number' && e.target === 'nell'), 'no wrong-number event');
    // The number typed then finishes the sign-in: no attempt was used.
    const ok = await phone.call('POST', `/device/v1/challenges/${txn}`, { decision: 'approve', number });
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    assert.equal(ok.json.state, 'approved');
    await finish(s, m);
  });

  test('a sign-in stopped by someone else says who stopped it; only the user\'s own Cancel says cancelled', async () => {
    const s = await mfaUser('odile');
    // Another request reported from the phone stops this one too.
    const a = await toMfa(s);
    const b = await toMfa(s, new Browser());
    const p = await idsim(server, s.phone, ['pending']);
    const txnB = p.stdout.split('\n').map((l) => l.split(' ')[0]).find((t) => t !== undefined);
    assert.equal((await idsim(server, s.phone, ['deny', txnB, '--report'])).stdout, 'reported');
    const [reported, other] = (await flowStatus(b)).state === 'reported' ? [b, a] : [a, b];
    assert.equal((await flowStatus(other)).state, 'cancelled');
    let page = (await other.browser.get(other.mfaUrl)).text;
    assert.match(page, /A sign-in request to your phone was reported as not yours, so for safety the other requests waiting were stopped, this one too\./);
    assert.match(page, /paused; they start again in about 15 minutes/);
    assert.doesNotMatch(page, /The sign-in was cancelled/);
    assert.match((await reported.browser.get(reported.mfaUrl)).text, /denied and reported as not yours/);
    assert.equal((await server.admin('POST', '/users/odile/unlock')).status, 200);
    // Sessions ended by an administrator: stopped by an administrator.
    let m = await toMfa(s);
    assert.equal((await server.admin('DELETE', '/sessions?user=odile')).status, 200);
    page = (await m.browser.get(m.mfaUrl)).text;
    assert.match(page, /Your sign-in was stopped by an administrator\. Start again/);
    assert.match(page, /<a href="\/login\?flow=[^"]+">Start again<\/a>/);
    // The account disabled: starting again cannot help, so the page says
    // whom to ask and offers the way back to the application instead.
    m = await toMfa(s);
    assert.equal((await server.admin('PATCH', '/users/odile', { enabled: false })).status, 200);
    try {
      const r = await m.browser.get(m.mfaUrl);
      assert.match(r.text, /Your sign-in was stopped: an administrator disabled your account\./);
      assert.match(r.text, /Contact your service desk\./);
      assert.doesNotMatch(r.text, />Start again</);
      assert.match(r.text, /Back to the application/);
    } finally {
      assert.equal((await server.admin('PATCH', '/users/odile', { enabled: true })).status, 200);
    }
    // The user's own Cancel, counted once (not again for a second post).
    m = await toMfa(s);
    const f = hiddenFields(m.page.text);
    const cancelled = await mfaCount('cancelled');
    const c = await m.browser.post(`${server.issuer}/login/mfa/cancel`, { flow: f.flow, csrf: f.csrf });
    assert.match(c.text, /The sign-in was cancelled\./);
    assert.equal(await mfaCount('cancelled'), cancelled + 1);
    // Start again, or go back: the application is told (access_denied).
    assert.match(c.text, />Start again</);
    assert.match(c.text, /<button type="submit" name="cancel" value="1">Back to the application<\/button>/);
    const back = await m.browser.post(`${server.issuer}/login`, { ...hiddenFields(c.text), cancel: '1' });
    assert.equal(back.status, 302, back.text);
    assert.equal(new URL(back.location).searchParams.get('error'), 'access_denied');
    // The account removed: said as such, not as disabled.
    m = await toMfa(await mfaUser('oriane'));
    assert.equal((await server.admin('DELETE', '/users/oriane')).status, 200);
    const gone = await m.browser.get(m.mfaUrl);
    assert.match(gone.text, /Your sign-in was stopped: an administrator removed your account\./);
    assert.doesNotMatch(gone.text, />Start again</);
  });

  test('a phone removed while its push waits: the sign-in ends at once and says to enroll again', async () => {
    const s = await mfaUser('pilar');
    const m = await toMfa(s);
    assert.equal((await flowStatus(m)).state, 'pending');
    const dev = (await server.admin('GET', '/users/pilar/devices')).json.devices[0];
    assert.equal((await server.admin('DELETE', `/devices/${dev.id}`)).status, 200);
    // At once, not when the 30 s run out.
    const st = await flowStatus(m);
    assert.equal(st.state, 'cancelled');
    assert.equal(st.number, null);
    const page = (await m.browser.get(m.mfaUrl)).text;
    assert.match(page, /The phone this sign-in request was sent to was removed from your account\. To use a phone again, it must be enrolled anew: ask your administrator for an enrollment code\./);
    assert.doesNotMatch(page, /Type a token code from your app/);
    // With a second phone, its push still waits on the other one.
    const t = await mfaUser('quinta');
    t.phone2 = await enrollPhone(server, 'quinta', ['--platform', 'none', '--app-version', '2024.1']);
    const m2 = await toMfa(t);
    const first = (await server.admin('GET', '/users/quinta/devices')).json.devices[0];
    assert.equal((await server.admin('DELETE', `/devices/${first.id}`)).status, 200);
    assert.equal((await flowStatus(m2)).state, 'pending', 'the other phone may still answer');
  });

  test('a phone removed after it approved, before the browser went on: no sign-in', async () => {
    const s = await mfaUser('pomona');
    const m = await toMfa(s);
    const [txn] = await pendingTxn(s);
    assert.equal((await idsim(server, s.phone, ['approve', txn, '--number', pageNumber(m.page.text)])).stdout, 'approved');
    const dev = (await server.admin('GET', '/users/pomona/devices')).json.devices[0];
    assert.equal((await server.admin('DELETE', `/devices/${dev.id}`)).status, 200);
    const page = await m.browser.get(m.mfaUrl);
    assert.equal(page.status, 200, 'no redirect to the application');
    assert.match(page.text, /The phone this sign-in request was sent to was removed from your account\./);
    // The flow is back at the password; nothing finishes it now.
    const late = await m.browser.get(m.mfaUrl);
    assert.equal(late.status, 409);
    assert.equal((await server.admin('GET', '/users/pomona')).json.last_sign_in ?? null, null);
  });

  test('an app below the minimum version: the user is told to update it, and device list marks it', async () => {
    const s = await mfaUser('ruby', ['--platform', 'apns', '--push-token', 'b'.repeat(64), '--app-version', '2024.1']);
    assert.equal((await server.admin('PATCH', '/workflow', { min_app_version: { ios: '2025.1' } })).status, 200);
    try {
      const m = await toMfa(s);
      assert.equal(pageNumber(m.page.text), null);
      assert.match(m.page.text, /Your authenticator app needs an update to receive sign-in requests\. Until then, type the six-digit code it shows\./);
      const list = await server.admin('GET', '/users/ruby/devices');
      assert.equal(list.json.devices[0].below_min_app_version, true);
      const r = ctl(server, ['device', 'list', 'ruby']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /2024\.1 \(below minimum\)/);
      // Legacy mode keeps its own words: nothing to update there.
      assert.equal((await server.admin('PATCH', '/workflow', { legacy: true })).status, 200);
      const l = await toMfa(s);
      assert.doesNotMatch(l.page.text, /needs an update/);
      assert.match(l.page.text, /Type the six-digit code shown in your authenticator app\./);
    } finally {
      await server.admin('PATCH', '/workflow', { min_app_version: {}, legacy: false });
    }
    const list = await server.admin('GET', '/users/ruby/devices');
    assert.equal(list.json.devices[0].below_min_app_version, false);
    assert.doesNotMatch(ctl(server, ['device', 'list', 'ruby']).stdout, /below minimum/);
  });

  test('the demo names its state folder and authflowctl by paths that work from any folder; a port in use says how to pick another', { timeout: 60000 }, async () => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'authflow-demo-cwd-'));
    const port = await freePort();
    const proc = spawn(path.join(BIN, 'authflow'), ['--demo', '--port', String(port), '--state-dir', 'st'], { cwd });
    let out = '';
    proc.stdout.on('data', (d) => { out += d; });
    try {
      for (let i = 0; !/Stop with Ctrl-C/.test(out); i++) {
        if (i > 200) throw new Error(`the demo did not start: ${out}`);
        await sleep(50);
      }
      assert.equal(out.match(/^ {2}Written to: +(\S+)$/m)[1], path.join(realpathSync(cwd), 'st', 'demo.json'));
      const ctlPath = out.match(/^ {2}Try: .* (\S+authflowctl) status$/m)[1];
      assert.ok(path.isAbsolute(ctlPath), ctlPath);
      assert.equal(realpathSync(ctlPath), realpathSync(path.join(BIN, 'authflowctl')));
      const second = spawnSync(path.join(BIN, 'authflow'), ['--demo', '--port', String(port), '--state-dir', path.join(cwd, 'st2')], { encoding: 'utf8', timeout: 30000 });
      assert.equal(second.status, 1);
      assert.match(second.stderr, /^authflow: listen: cannot listen on 127\.0\.0\.1 port \d+ \(.*\); another port: --port N\n$/);
      assert.ok(!existsSync(path.join(cwd, 'st2')), 'the refused demo made no state folder');
      // A state folder that cannot be made says why; --port without
      // --demo says what it goes with.
      const noDir = spawnSync(path.join(BIN, 'authflow'), ['--demo', '--port', String(await freePort()), '--state-dir', path.join(cwd, 'no', 'such')], { encoding: 'utf8', timeout: 30000 });
      assert.equal(noDir.status, 1);
      assert.match(noDir.stderr, /^authflow: --state-dir: cannot make \S+no\/such: No such file or directory\n$/);
      const noDemo = spawnSync(path.join(BIN, 'authflow'), ['--port', '8080'], { encoding: 'utf8', timeout: 30000 });
      assert.equal(noDemo.status, 2);
      assert.equal(noDemo.stderr, 'authflow: --port and --state-dir go with --demo\n');
    } finally {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  test('the demo phone asks for the number before Approve, and says plainly what its answer did', { timeout: 60000 }, async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'authflow-demo-'));
    const port = await freePort();
    const issuer = `http://127.0.0.1:${port}`;
    const proc = spawn(path.join(BIN, 'authflow'), ['--demo', '--port', String(port), '--state-dir', dir],
      { stdio: 'ignore' });
    try {
      for (let i = 0; ; i++) {
        try { if ((await fetch(`${issuer}/healthz`)).ok) break; } catch { /* not up yet */ }
        if (i > 200) throw new Error('the demo did not start');
        await sleep(50);
      }
      // Asked for under another name (a site's name rebound to
      // 127.0.0.1), the phone shows neither its code nor its pushes.
      const asHost = (host) => new Promise((resolve, reject) => {
        http.get({ host: '127.0.0.1', port, path: '/demo/phone', headers: { host } }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c) => { text += c; });
          res.on('end', () => resolve({ status: res.statusCode, text }));
        }).on('error', reject);
      });
      let misdirected = await asHost(`rebound.example:${port}`);
      assert.equal(misdirected.status, 421);
      assert.match(misdirected.text, /The demo answers only at its own address\./);
      assert.doesNotMatch(misdirected.text, /class="number"/);
      assert.equal((await asHost(`localhost:${port}`)).status, 200);
      misdirected = await asHost(`localhost:${port + 1}`);
      assert.equal(misdirected.status, 421);
      const admin = JSON.parse(readFileSync(path.join(dir, 'demo.json'), 'utf8')).admin_token;
      const audit = async () => (await (await fetch(`${issuer}/admin/v1/audit?limit=100`,
        { headers: { authorization: `Bearer ${admin}` } })).json()).events;
      // A sign-in at /demo up to the number.
      const signInDemo = async () => {
        const b = new Browser();
        let r = await b.get(`${issuer}/demo/login`);
        const login = await b.get(new URL(r.location, issuer).href);
        r = await b.post(`${issuer}/login`, { ...hiddenFields(login.text), username: 'alice', password: 'alice-demo-pass' });
        assert.equal(r.status, 303, r.text);
        const mfaUrl = new URL(r.location, issuer).href;
        const page = await b.get(mfaUrl);
        const flow = new URL(mfaUrl).searchParams.get('flow');
        const status = async () => JSON.parse((await b.get(`${issuer}/login/mfa/status?flow=${flow}`)).text);
        return { b, number: pageNumber(page.text), status, state: async () => (await status()).state };
      };
      const answer = async (decision, number) => {
        const phone = (await fetch(`${issuer}/demo/phone`).then((r) => r.text()));
        const f = hiddenFields(phone);
        const form = { txn: f.txn, csrf: f.csrf, decision };
        if (number !== undefined) form.number = number;
        return { phone, after: await (await fetch(`${issuer}/demo/phone`, {
          method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams(form).toString(),
        })).text() };
      };
      // Sign-ins begun and left keep no more than 8 state cookies.
      const many = new Browser();
      for (let i = 0; i < 20; i++) await many.get(`${issuer}/demo/login`);
      const states = [...many.jar.keys()].filter((k) => k.startsWith('af_demo_rp_')).length;
      assert.ok(states >= 4 && states <= 8, `${states} state cookies`);
      let d = await signInDemo();
      // Approve tapped first, with the field empty.
      let a = await answer('approve', '');
      assert.match(a.phone, /<input type="text" id="number-0" name="number"[^>]* required /);
      assert.match(a.phone, /value="deny" formnovalidate>/);
      assert.match(a.phone, /value="report" formnovalidate>/);
      assert.match(a.phone, /<p>From a browser at 127\.0\.0\.1\.<\/p>/, 'where the sign-in came from');
      assert.match(a.after, /Type the number shown on the sign-in page, then press Approve\./);
      assert.equal(await d.state(), 'pending', 'the sign-in still waits');
      assert.ok(!(await audit()).some((e) => e.action === 'mfa.wrong_number'), 'not a wrong number');
      // A wrong number: said plainly.
      a = await answer('approve', String(((Number(d.number) - 10 + 1) % 90) + 10));
      assert.match(a.after, /The number did not match: the sign-in was stopped\./);
      assert.doesNotMatch(a.after, /Answer sent: failed/);
      assert.equal(await d.state(), 'failed');
      // The right number.
      d = await signInDemo();
      a = await answer('approve', d.number);
      assert.match(a.after, /Answer sent: approved\. The sign-in goes on in the other tab\./);
      assert.equal(await d.state(), 'approved');
      // On to the demo application, whose Sign out posts the id_token
      // rather than putting it in a link (history, logs).
      let r = await d.b.get(new URL((await d.status()).next, issuer).href);
      r = await d.b.get(new URL(r.location, issuer).href);
      assert.equal(r.status, 200, r.text);
      assert.match(r.text, /<h1>Signed in<\/h1>/);
      assert.doesNotMatch(r.text, /id_token_hint=/);
      const out = hiddenFields(r.text);
      assert.match(out.id_token_hint, /^[\w-]+\.[\w-]+\.[\w-]+$/);
      r = await d.b.post(`${issuer}/logout`, out);
      assert.ok([302, 303].includes(r.status), `${r.status} ${r.text}`);
      assert.equal(new URL(r.location, issuer).href, `${issuer}/demo`);
      r = await d.b.get(`${issuer}/demo/login`);
      r = await d.b.get(new URL(r.location, issuer).href);
      assert.ok(isLoginForm(r), 'signed out: the next sign-in asks for the password');
    } finally {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a transaction expires after 30 seconds; another request, or the token code, still finishes', { timeout: 90000 }, async () => {
    assert.ok(expiry?.done, 'the sign-ins are made by the first test of the group');
    try {
      await expiry.done;
    } finally {
      await expiry.srv.stop();
    }
  });
});

describe(`device API across a restart (${STORE} store)`, () => {
  test('a push-token change stamped ahead by a fast phone clock cannot be sent again after a restart', async () => {
    const srv = await startServer();
    let again = null;
    try {
      await seed(srv, { user: 'remy', policy: { remote_access: true } });
      const phone = await rawPhone('remy', srv);
      // The phone's clock runs 50 s ahead: inside the window, and past
      // the start of the server that comes next.
      const old = phone.prepare('PUT', '/device/v1/push-token', { push_token: 'a'.repeat(64), app_version: '2024.1' }, 50);
      assert.equal((await old()).status, 200);
      assert.equal((await old()).status, 401, 'a replay');
      const now = await phone.call('PUT', '/device/v1/push-token', { push_token: 'b'.repeat(64), app_version: '2024.1' });
      assert.equal(now.status, 200, JSON.stringify(now.json));
      // The same server again, on the same state and port.
      const gone = new Promise((r) => srv.proc.once('exit', r));
      srv.proc.kill('SIGTERM');
      await gone;
      again = spawn(path.join(BIN, 'authflow'), ['--config', srv.configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      again.stderr.on('data', (d) => { err += d; });
      for (let i = 0; ; i++) {
        try { if ((await fetch(`${srv.issuer}/healthz`)).ok) break; } catch { /* not up yet */ }
        assert.ok(i < 200, `authflow did not start again: ${err}`);
        await sleep(50);
      }
      const replay = await old();
      assert.equal(replay.status, 401, `the old change replayed: ${JSON.stringify(replay.json)}`);
      const dev = (await srv.admin('GET', '/users/remy/devices')).json.devices[0];
      assert.ok(dev.push_token.startsWith('bbbb'), `the push token stays the newer one: ${dev.push_token}`);
      // A request the phone signs now goes through.
      assert.equal((await phone.call('GET', '/device/v1/challenges')).status, 200);
    } finally {
      if (again) {
        const gone = new Promise((r) => again.once('exit', r));
        again.kill('SIGTERM');
        await gone;
      }
      await srv.stop();
    }
  });
});

describe(`temporary passwords and a user's own change (${STORE} store)`, () => {
  const TEMP = 'Given-Once-7391';
  const NEW = 'my own quiet meadow';
  // A server of its own: the wrong passwords these tests send count
  // against the address, and the tests before leave counts of theirs.
  let shared;
  before(async () => { shared = server; server = await startServer({ store: STORE }); });
  after(async () => { await server.stop(); server = shared; });

  // Sets a temporary password for user, as a service desk would.
  async function giveTemporary(user) {
    const r = await server.admin('PUT', `/users/${user}/password`, { password: TEMP, temporary: true });
    assert.equal(r.status, 200, r.text);
    const u = await server.admin('GET', `/users/${user}`);
    assert.equal(u.json.password_change_required, true);
  }

  // The form the browser was sent to: { url, page, fields }.
  async function changeForm(b, r) {
    assert.equal(r.status, 303, r.text);
    const url = new URL(r.location, server.issuer);
    assert.equal(url.pathname, '/login/password');
    const page = await b.get(url.href);
    assert.equal(page.status, 200, page.text);
    assert.match(page.text, /<h1>Choose a new password<\/h1>/);
    assert.match(page.text, /autocomplete="new-password"/);
    // The form's answer goes on to the application.
    assert.match(page.headers.get('content-security-policy'), /form-action 'self' http:\/\/127\.0\.0\.1:9000;/);
    return { url, page, fields: hiddenFields(page.text) };
  }

  const post = (b, f, password, confirm = password) =>
    b.post(`${server.issuer}/login/password`, { ...f.fields, password, confirm });

  test('the new-password page checks no password sent in its query', async () => {
    const s = await seed(server, { user: 'tempo-qry' });
    s.config = await rp(s);
    await giveTemporary('tempo-qry');
    const b = new Browser();
    const a = await authUrl(s.config);
    const f = await changeForm(b, await signIn(b, server.issuer, a.url.href, 'tempo-qry', TEMP));
    // The user sets a password elsewhere meanwhile: the step has ended.
    assert.equal((await server.admin('PUT', '/users/tempo-qry/password', { password: NEW })).status, 200);
    // Even the right password in the query tells nothing: the page is the
    // step's end, as for any other, not "saved" (no password check).
    const u = new URL(f.url.href);
    u.searchParams.set('password', NEW);
    const r = await b.get(u.href);
    assert.notEqual(r.status, 409, 'a password in the query was checked');
    assert.doesNotMatch(r.text, /saved/i);
  });

  test('password only: a new password is chosen before anything is signed into; the temporary one then fails', async () => {
    const s = await seed(server, { user: 'tempo-ann' });
    s.config = await rp(s);
    await giveTemporary('tempo-ann');
    const b = new Browser();
    const a = await authUrl(s.config);
    const f = await changeForm(b, await signIn(b, server.issuer, a.url.href, 'tempo-ann', TEMP));
    // No session yet: another application still asks for the password.
    assert.ok(![...b.jar.keys()].some((k) => /session/.test(k)), [...b.jar.keys()].join());
    // Another browser cannot see the form or post it.
    const other = new Browser();
    assert.equal((await other.get(f.url.href)).status, 400);
    assert.equal((await post(other, f, NEW)).status, 400);
    let r = await post(b, f, NEW, `${NEW}x`);
    assert.equal(r.status, 400);
    assert.match(r.text, /The two passwords differ/);
    r = await post(b, f, TEMP);
    assert.equal(r.status, 400);
    assert.match(r.text, /must differ from the one you signed in with/);
    r = await post(b, f, 'short');
    assert.equal(r.status, 400);
    assert.match(r.text, /at least 8 characters/);
    assert.match(r.text, /aria-invalid="true"/);
    r = await post(b, f, NEW);
    assert.equal(r.status, 302, r.text);
    const t = await client.authorizationCodeGrant(s.config, new URL(r.location), {
      pkceCodeVerifier: a.verifier, expectedState: a.state, expectedNonce: a.nonce,
    });
    assert.equal(t.claims().sub, (await server.admin('GET', '/users/tempo-ann')).json.sub);
    assert.deepEqual(t.claims().amr, ['pwd']);
    // The form is used up.
    assert.equal((await post(b, f, `${NEW} again`)).status, 400);
    const u = await server.admin('GET', '/users/tempo-ann');
    assert.equal(u.json.password_change_required, false);
    const audit = (await server.admin('GET', '/audit?limit=50')).json.events.filter((e) => e.target === 'tempo-ann');
    assert.ok(audit.some((e) => e.action === 'user.passwd' && e.detail?.temporary === true), JSON.stringify(audit));
    const own = audit.filter((e) => e.action === 'user.passwd_change');
    assert.equal(own.length, 1, JSON.stringify(audit));
    assert.equal(own[0].actor, 'user:tempo-ann');
    assert.equal(own[0].detail?.via, 'sign_in');
    assert.equal(own[0].ip, '127.0.0.1');
    // The temporary password is gone; the new one signs in at once.
    const b2 = new Browser();
    const wrong = await signIn(b2, server.issuer, (await authUrl(s.config)).url.href, 'tempo-ann', TEMP);
    assert.equal(wrong.status, 401);
    const right = await signIn(b2, server.issuer, (await authUrl(s.config)).url.href, 'tempo-ann', NEW);
    assert.equal(right.status, 302, right.text);
    assert.equal(new URL(right.location).origin, 'http://127.0.0.1:9000');
  });

  test('after push MFA: the change comes last, and the tokens say both factors', async () => {
    const s = await mfaUser('tempo-ben');
    await giveTemporary('tempo-ben');
    const b = new Browser();
    const a = await authUrl(s.config);
    const r0 = await signIn(b, server.issuer, a.url.href, 'tempo-ben', TEMP);
    assert.equal(r0.status, 303, r0.text);
    assert.equal(new URL(r0.location, server.issuer).pathname, '/login/mfa', 'the second factor comes first');
    const mfaUrl = new URL(r0.location, server.issuer).href;
    const page = await b.get(mfaUrl);
    const [txn] = await pendingTxn(s);
    const ok = await idsim(server, s.phone, ['approve', txn, '--number', pageNumber(page.text)]);
    assert.equal(ok.stdout, 'approved', ok.stderr);
    const flow = new URL(mfaUrl).searchParams.get('flow');
    const status = JSON.parse((await b.get(`${server.issuer}/login/mfa/status?flow=${flow}`)).text);
    assert.equal(status.state, 'approved');
    const f = await changeForm(b, await b.get(new URL(status.next, server.issuer).href));
    // The MFA page again (a reload) leads to the same form, signs in nobody.
    const again = await b.get(mfaUrl);
    assert.equal(again.status, 303);
    assert.equal(new URL(again.location, server.issuer).pathname, '/login/password');
    const r = await post(b, f, NEW);
    assert.equal(r.status, 302, r.text);
    const t = await client.authorizationCodeGrant(s.config, new URL(r.location), {
      pkceCodeVerifier: a.verifier, expectedState: a.state, expectedNonce: a.nonce,
    });
    assert.deepEqual(t.claims().amr, ['pwd', 'swk', 'mfa']);
  });

  test('the phone that approved removed while the form is open (a lost phone): the sign-in ends', async () => {
    const s = await mfaUser('tempo-hal');
    await giveTemporary('tempo-hal');
    const b = new Browser();
    const r0 = await signIn(b, server.issuer, (await authUrl(s.config)).url.href, 'tempo-hal', TEMP);
    assert.equal(r0.status, 303, r0.text);
    const mfaUrl = new URL(r0.location, server.issuer).href;
    const page = await b.get(mfaUrl);
    const [txn] = await pendingTxn(s);
    assert.equal((await idsim(server, s.phone, ['approve', txn, '--number', pageNumber(page.text)])).stdout, 'approved');
    const f = await changeForm(b, await b.get(mfaUrl));
    const id = JSON.parse(readFileSync(s.phone, 'utf8')).device_id;
    assert.equal((await server.admin('DELETE', `/devices/${id}`)).status, 200);
    const r = await post(b, f, NEW);
    assert.equal(r.status, 403, r.text);
    assert.match(r.text, /the phone it used was removed/);
    assert.equal((await server.admin('GET', '/users/tempo-hal')).json.password_change_required, true);
  });

  test('a signed-in user changes their own password: the current one checked, other sessions end, this browser stays', async () => {
    const s = await seed(server, { user: 'tempo-dee' });
    s.config = await rp(s);
    const signedIn = async () => {
      const b = new Browser();
      const r = await signIn(b, server.issuer, (await authUrl(s.config)).url.href, s.user, s.password);
      assert.equal(r.status, 302, r.text);
      return b;
    };
    const other = await signedIn();
    const b = await signedIn();
    const url = `${server.issuer}/account/password`;
    // Not signed in: nothing to change.
    assert.equal((await new Browser().get(url)).status, 401);
    const page = await b.get(url);
    assert.equal(page.status, 200, page.text);
    assert.match(page.text, /<h1>Change your password<\/h1>/);
    const csrf = hiddenFields(page.text).csrf;
    assert.ok(csrf);
    const post = (form) => b.post(url, { csrf, ...form });
    // Without the form's token (another site's post): refused, nothing checked.
    assert.equal((await b.post(url, { current: s.password, password: NEW, confirm: NEW })).status, 400);
    let r = await post({ current: 'not my password', password: NEW, confirm: NEW });
    assert.equal(r.status, 401);
    assert.match(r.text, /current password is not right/);
    r = await post({ current: s.password, password: NEW, confirm: `${NEW}!` });
    assert.equal(r.status, 400);
    assert.match(r.text, /two new passwords differ/);
    r = await post({ current: s.password, password: s.password, confirm: s.password });
    assert.equal(r.status, 400);
    assert.match(r.text, /must differ from the current one/);
    // Longer than any password: wrong, not an outage.
    r = await post({ current: 'x'.repeat(1100), password: NEW, confirm: NEW });
    assert.equal(r.status, 401, r.text);
    // An enrollment code made before ends with the old password.
    const ec = await server.admin('POST', '/users/tempo-dee/enroll-code');
    assert.equal(ec.status, 201, ec.text);
    const before = b.cookieHeader();
    r = await post({ current: s.password, password: NEW, confirm: NEW });
    assert.equal(r.status, 200, r.text);
    assert.match(r.text, /<h1>Password changed<\/h1>/);
    assert.notEqual(b.cookieHeader(), before, 'a new session id');
    // Listed: this browser's new session alone.
    const listed = await server.admin('GET', '/sessions?user=tempo-dee');
    assert.equal(listed.status, 200, listed.text);
    assert.equal(listed.json.sessions.length, 1, listed.text);
    const late = await idsim(server, path.join(server.dir, 'phone-tempo-dee.json'), ['enroll', ec.json.code, '--platform', 'none']);
    assert.notEqual(late.code, 0, late.stdout);
    // This browser stays signed in; the other one asks for the password.
    const here = await b.get((await authUrl(s.config)).url.href);
    assert.equal(here.status, 302);
    assert.equal(new URL(here.location).origin, 'http://127.0.0.1:9000');
    const there = await other.get((await authUrl(s.config)).url.href);
    assert.ok(isLoginForm(there), 'the sign-in form');
    // The old password is gone, the new one works.
    const b3 = new Browser();
    assert.equal((await signIn(b3, server.issuer, (await authUrl(s.config)).url.href, s.user, s.password)).status, 401);
    assert.equal((await signIn(b3, server.issuer, (await authUrl(s.config)).url.href, s.user, NEW)).status, 302);
    const audit = (await server.admin('GET', '/audit?limit=50')).json.events.filter((e) => e.target === 'tempo-dee');
    assert.ok(audit.some((e) => e.action === 'user.passwd_change' && e.actor === 'user:tempo-dee' && e.detail?.via === 'account' && e.ip === '127.0.0.1'), JSON.stringify(audit));
  });

  test('wrong current passwords at /account/password count towards the delay, as at sign-in', async () => {
    // A server of its own: the failures count against the address too.
    const shared = server;
    server = await startServer({ store: STORE });
    try {
      const s = await seed(server, { user: 'tempo-gil' });
      s.config = await rp(s);
      const b = new Browser();
      const r = await signIn(b, server.issuer, (await authUrl(s.config)).url.href, s.user, s.password);
      assert.equal(r.status, 302, r.text);
      const url = `${server.issuer}/account/password`;
      const { csrf } = hiddenFields((await b.get(url)).text);
      let last;
      let wrong = 0;
      for (; wrong < 9; wrong++) {
        last = await b.post(url, { csrf, current: `wrong ${wrong}`, password: 'another fine pass', confirm: 'another fine pass' });
        if (last.status === 429) break;
        assert.equal(last.status, 401, last.text);
      }
      assert.equal(last.status, 429, last.text);
      assert.match(last.text, /Wait \d+ seconds?/);
      // A wait, told as one: no field is marked wrong.
      assert.match(last.text, /<title>Wait before trying again: Change your password<\/title>/);
      assert.doesNotMatch(last.text, /aria-invalid/);
      assert.ok(wrong >= 3, `delayed after ${wrong} wrong passwords`);
      // The right one, during the delay, is not checked either.
      const during = await b.post(url, { csrf, current: s.password, password: 'another fine pass', confirm: 'another fine pass' });
      assert.equal(during.status, 429);
      assert.equal((await server.admin('POST', '/users/tempo-gil/unlock')).status, 200);
    } finally {
      await server.stop();
      server = shared;
    }
  });

  test('a reset, or the requirement lifted, while the form is open ends the sign-in; too many tries end it; cancel goes back', async () => {
    const s = await seed(server, { user: 'tempo-cy' });
    s.config = await rp(s);
    await giveTemporary('tempo-cy');
    let b = new Browser();
    let f = await changeForm(b, await signIn(b, server.issuer, (await authUrl(s.config)).url.href, 'tempo-cy', TEMP));
    // The service desk sets another temporary password meanwhile: the
    // form says so at once.
    await giveTemporary('tempo-cy');
    const again = await b.get(f.url.href);
    assert.equal(again.status, 403, again.text);
    assert.match(again.text, /ended while it waited/);
    let r = await post(b, f, NEW);
    assert.equal(r.status, 403, r.text);
    assert.match(r.text, /ended while it waited/);
    assert.equal((await server.admin('GET', '/users/tempo-cy')).json.password_change_required, true);
    // Signing in again in the same window with the new one starts afresh.
    r = await b.post(`${server.issuer}/login`, { flow: f.fields.flow, csrf: f.fields.csrf, username: 'tempo-cy', password: TEMP });
    assert.equal(r.status, 303, r.text);
    assert.equal((await b.get(f.url.href)).status, 200);
    // The requirement lifted by an administrator: the form is refused too.
    b = new Browser();
    f = await changeForm(b, await signIn(b, server.issuer, (await authUrl(s.config)).url.href, 'tempo-cy', TEMP));
    const lift = await server.admin('PATCH', '/users/tempo-cy', { password_change_required: false });
    assert.equal(lift.status, 200, lift.text);
    assert.equal((await post(b, f, NEW)).status, 403);
    // Set again by PATCH alone: the password stays, its next sign-in asks.
    assert.equal((await server.admin('PATCH', '/users/tempo-cy', { password_change_required: true })).status, 200);
    b = new Browser();
    f = await changeForm(b, await signIn(b, server.issuer, (await authUrl(s.config)).url.href, 'tempo-cy', TEMP));
    for (let i = 1; i < 10; i++) {
      r = await post(b, f, NEW, 'not the same');
      assert.equal(r.status, 400, `try ${i}`);
    }
    r = await post(b, f, NEW, 'not the same');
    assert.equal(r.status, 403);
    assert.match(r.text, /Too many tries/);
    // Over: the form and its post say so, and the way back to the
    // application stays (it learns that nobody signed in).
    r = await post(b, f, NEW);
    assert.equal(r.status, 403, 'the sign-in is over');
    assert.match(r.text, /Too many tries/);
    assert.equal((await b.get(f.url.href)).status, 403);
    assert.match(r.text, /Back to the application<\/button>/);
    r = await b.post(`${server.issuer}/login`, { ...f.fields, cancel: '1' });
    assert.equal(r.status, 302, r.text);
    assert.equal(new URL(r.location).searchParams.get('error'), 'access_denied');
    // Cancel goes back to the application with access_denied.
    b = new Browser();
    f = await changeForm(b, await signIn(b, server.issuer, (await authUrl(s.config)).url.href, 'tempo-cy', TEMP));
    r = await b.post(`${server.issuer}/login/password`, { ...f.fields, cancel: '1' });
    assert.equal(r.status, 302, r.text);
    assert.equal(new URL(r.location).searchParams.get('error'), 'access_denied');
    assert.equal((await server.admin('GET', '/users/tempo-cy')).json.password_change_required, true);
    // A second factor asked for meanwhile: the password alone no longer does.
    b = new Browser();
    f = await changeForm(b, await signIn(b, server.issuer, (await authUrl(s.config)).url.href, 'tempo-cy', TEMP));
    const pol = await server.admin('PATCH', '/policies/sso-tempo-cy', { remote_access: true });
    assert.equal(pol.status, 200, pol.text);
    r = await post(b, f, NEW);
    assert.equal(r.status, 403, r.text);
    assert.match(r.text, /now asks for a second factor/);
    assert.equal((await server.admin('GET', '/users/tempo-cy')).json.password_change_required, true);
  });

  test('a temporary password signs in for three days; past that the sign-in is refused, and a new one works', async () => {
    const s = await seed(server, { user: 'tempo-fay' });
    s.config = await rp(s);
    await giveTemporary('tempo-fay');
    const u = (await server.admin('GET', '/users/tempo-fay')).json;
    const left = u.password_expires_at - Math.floor(Date.now() / 1000);
    assert.ok(Math.abs(left - 72 * 3600) < 60, `expires in ${left} s`);
    // Given with the user, it is as temporary.
    const added = await server.admin('POST', '/users', { username: 'tempo-fay2', password: TEMP, password_change_required: true });
    assert.equal(added.status, 201, added.text);
    assert.ok(Math.abs(added.json.password_expires_at - Math.floor(Date.now() / 1000) - 72 * 3600) < 60, added.text);
    // The requirement lifted: the password given is the user's, and lasts.
    const lifted = await server.admin('PATCH', '/users/tempo-fay2', { password_change_required: false });
    assert.equal(lifted.json.password_expires_at, undefined, lifted.text);
    // Marked by PATCH alone, a password is the user's own: no end.
    await server.admin('PUT', '/users/tempo-fay/password', { password: TEMP });
    assert.equal((await server.admin('PATCH', '/users/tempo-fay', { password_change_required: true })).json.password_expires_at, undefined);
    await giveTemporary('tempo-fay');
    if (STORE === 'redis') {
      // Three days later, as the store would have it.
      const url = process.env.AF_TEST_REDIS_URL;
      const key = `e2e${server.port}:user:tempo-fay`;
      const rec = JSON.parse(execFileSync('redis-cli', ['-u', url, '--raw', 'GET', key]).toString());
      rec.password_expires_at = Math.floor(Date.now() / 1000) - 1;
      execFileSync('redis-cli', ['-u', url, 'SET', key, JSON.stringify(rec)], { stdio: 'ignore' });
      const b = new Browser();
      const r = await signIn(b, server.issuer, (await authUrl(s.config)).url.href, 'tempo-fay', TEMP);
      assert.equal(r.status, 403, r.text);
      assert.match(r.text, /<h1>Temporary password expired<\/h1>/);
      assert.match(r.text, /Back to the application<\/button>/);
      assert.ok(![...b.jar.keys()].some((k) => /session/.test(k)));
      // A wrong password is still only wrong: nothing said of the account.
      const w = await signIn(new Browser(), server.issuer, (await authUrl(s.config)).url.href, 'tempo-fay', 'Wrong-Once-7391');
      assert.equal(w.status, 401);
      await giveTemporary('tempo-fay');
    }
    const b = new Browser();
    const f = await changeForm(b, await signIn(b, server.issuer, (await authUrl(s.config)).url.href, 'tempo-fay', TEMP));
    assert.equal((await post(b, f, NEW)).status, 302);
    assert.equal((await server.admin('GET', '/users/tempo-fay')).json.password_expires_at, undefined);
  });

  test('the form sent twice at once (a double click): one sign-in, and the other answer says the password was saved', async () => {
    const s = await seed(server, { user: 'tempo-eve' });
    s.config = await rp(s);
    await giveTemporary('tempo-eve');
    for (let round = 0; round < 3; round++) {
      const b = new Browser();
      const a = await authUrl(s.config);
      const f = await changeForm(b, await signIn(b, server.issuer, a.url.href, 'tempo-eve', round === 0 ? TEMP : `${NEW} ${round - 1}`));
      const pw = `${NEW} ${round}`;
      const rs = await Promise.all([post(b, f, pw), post(b, f, pw)]);
      const codes = rs.map((x) => x.status).sort();
      assert.equal(codes.filter((c) => c === 302).length, 1, `one sign-in: ${codes}`);
      const other = rs.find((x) => x.status !== 302);
      assert.ok([400, 409].includes(other.status), `${other.status} ${other.text}`);
      if (other.status === 409) assert.match(other.text, /Your new password was saved/);
      const u = await server.admin('GET', '/users/tempo-eve');
      assert.equal(u.json.password_change_required, false);
      // Sent again after the first finished: the same answer, not "expired".
      const late = await post(b, f, pw);
      assert.equal(late.status, 409, late.text);
      assert.match(late.text, /Your new password was saved/);
      // Someone with the flow id alone (seen in a URL), not the page's
      // form token, learns nothing: the same page for the right password
      // and a wrong one.
      const other2 = new Browser();
      const bare = { ...f, fields: { ...f.fields, csrf: 'not-the-form-token' } };
      for (const guess of [pw, 'not the password']) {
        const g = await post(other2, bare, guess);
        assert.equal(g.status, 400, `${guess}: ${g.status}`);
        assert.match(g.text, /expired/);
      }
      if (round < 2) await server.admin('PATCH', '/users/tempo-eve', { password_change_required: true });
    }
  });
});

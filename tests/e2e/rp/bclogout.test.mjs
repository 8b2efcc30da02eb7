// End-to-end: OpenID Connect Back-Channel Logout 1.0. A relying party's
// receiver (a node HTTP server on loopback) gets a logout token whenever an
// SSO session it was given a code by ends; the token is checked with jose
// against /jwks. On the store backend from AF_STORE; each test starts its
// own server.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { describe, test } from 'node:test';
import * as jose from 'jose';
import * as client from 'openid-client';
import { authRequest, BIN, Browser, ctl, discover, freePort, openAuthorize, seed, signIn, sleep, startServer } from './lib.mjs';

const STORE = process.env.AF_STORE ?? 'memory';
const REDIRECT = 'http://127.0.0.1:9000/login/callback';
const SIGNED_OUT = 'http://127.0.0.1:9000/signed-out';
const EVENT = 'http://schemas.openid.net/event/backchannel-logout';


// Runs fn with a fresh server, stopped however fn ends; when fn passed,
// the stop must be graceful (the delivery worker included: status 0).
async function withServer(fn) {
  const server = await startServer({ store: STORE });
  let passed = false;
  try {
    await fn(server);
    passed = true;
  } finally {
    const exit = await server.stop();
    if (passed) assert.deepEqual(exit, { code: 0, sig: null }, server.stderr());
  }
}

// A relying party's back-channel logout receiver on a free loopback port.
// It records every request (method, path, content type, raw and parsed
// form body) and answers status(n) for the n-th one (1-based), 200 unless
// told otherwise; on port, or a free one.
async function receiver(status = () => 200, port = 0) {
  const posts = [];
  const srv = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      posts.push({
        method: req.method, path: req.url, contentType: req.headers['content-type'] ?? '',
        body, form: new URLSearchParams(body), at: Date.now(),
      });
      const code = status(posts.length);
      res.writeHead(code, { 'content-type': 'text/plain' });
      res.end(code < 300 ? 'ok' : 'not now');
    });
  });
  await new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', resolve);
  });
  return {
    url: `http://127.0.0.1:${srv.address().port}`,
    posts,
    close: () => new Promise((resolve) => { srv.closeAllConnections(); srv.close(() => resolve()); }),
  };
}

// Polls every 100 ms until rx has received at least n requests; fails
// after ms with what did arrive.
async function waitForPosts(rx, n, what, ms = 10000) {
  const until = Date.now() + ms;
  while (rx.posts.length < n) {
    if (Date.now() > until) {
      assert.fail(`${what}: ${n} logout POST(s) expected within ${ms / 1000} s, got ${rx.posts.length}: ${
        JSON.stringify(rx.posts.map((p) => ({ method: p.method, path: p.path, contentType: p.contentType })))}`);
    }
    await sleep(100);
  }
}

// Waits ms more and checks that rx still has exactly n requests.
async function expectNoMore(rx, n, what, ms = 1500) {
  await sleep(ms);
  assert.equal(rx.posts.length, n, `${what}: exactly ${n} logout POST(s), got ${rx.posts.length}: ${
    JSON.stringify(rx.posts.map((p) => ({ path: p.path, body: p.body.slice(0, 60) })))}`);
}

// An application profile deployed to everyone, with more members from
// extra: { clientId, clientSecret }, as seed() gives.
async function addApp(server, extra = {}) {
  const a = await server.admin('POST', '/apps', {
    name: `bcl-${randomBytes(4).toString('hex')}`,
    redirect_uris: [REDIRECT],
    post_logout_uris: [SIGNED_OUT],
    ...extra,
  });
  assert.equal(a.status, 201, a.text);
  const d = await server.admin('POST', `/apps/${a.json.client_id}/deploy`, { all: true });
  assert.equal(d.status, 200, d.text);
  return { clientId: a.json.client_id, clientSecret: a.json.client_secret };
}

// Redeems the code in answer r (a redirect to the client) for app s with
// request a: { config, tokens, claims }.
async function redeem(config, a, r) {
  assert.equal(r.status, 302, r.text);
  const tokens = await client.authorizationCodeGrant(config, new URL(r.location), {
    pkceCodeVerifier: a.verifier, expectedState: a.state, expectedNonce: a.nonce,
  });
  const claims = tokens.claims();
  assert.ok(claims.sid, 'the id_token has a sid');
  return { config, tokens, claims };
}

// Signs user into app s in browser with the password (code flow with PKCE).
async function passwordSignIn(server, s, browser, { user = s.user, password = s.password, extra = {} } = {}) {
  const config = await discover(server, s);
  const a = await authRequest(config, extra);
  const r = await signIn(browser, server.issuer, a.url.href, user, password);
  return redeem(config, a, r);
}

// Signs browser's session into app s by SSO: no sign-in form is shown.
async function ssoSignIn(server, s, browser) {
  const config = await discover(server, s);
  const a = await authRequest(config);
  const o = await openAuthorize(browser, server.issuer, a.url.href);
  assert.ok(o.answer, 'SSO: no password asked');
  return redeem(config, a, o.answer);
}

// Checks one received request as a back-channel logout of the session
// of id_token claims idc to the application aud; answers the token's claims.
async function checkLogoutToken(server, post, { aud, idc }) {
  assert.equal(post.method, 'POST');
  assert.match(post.contentType, /^application\/x-www-form-urlencoded\s*(;|$)/i, `content type ${post.contentType}`);
  assert.deepEqual([...post.form.keys()], ['logout_token'], `the body is logout_token alone: ${post.body}`);
  const jwt = post.form.get('logout_token');
  assert.match(jwt, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, 'a compact JWS');
  const header = jose.decodeProtectedHeader(jwt);
  assert.equal(header.alg, 'RS256');
  assert.equal(header.typ, 'logout+jwt');
  const jwks = await (await fetch(`${server.issuer}/jwks`)).json();
  assert.ok(jwks.keys.some((k) => k.kid === header.kid), `kid ${header.kid} is in /jwks`);
  const { payload } = await jose.jwtVerify(jwt, jose.createLocalJWKSet(jwks), {
    issuer: server.issuer, audience: aud, algorithms: ['RS256'], typ: 'logout+jwt',
  });
  assert.equal(payload.iss, server.issuer);
  assert.equal(payload.aud, aud, 'aud is the client id, as a string');
  assert.equal(payload.sub, idc.sub, 'sub as in the id_token');
  assert.equal(payload.sid, idc.sid, 'sid as in the id_token');
  assert.deepEqual(payload.events, { [EVENT]: {} });
  assert.ok(!('nonce' in payload), 'no nonce in a logout token');
  assert.ok(Number.isInteger(payload.iat) && Number.isInteger(payload.exp), 'iat and exp are numbers');
  assert.ok(payload.exp > payload.iat && payload.exp - payload.iat <= 120, `exp - iat = ${payload.exp - payload.iat}`);
  assert.ok(Math.abs(payload.iat - Date.now() / 1000) <= 60, 'iat is now');
  assert.equal(typeof payload.jti, 'string');
  assert.ok(payload.jti.length > 0, 'a jti');
  return payload;
}

// Ends browser's session at the end_session_endpoint with this session's
// id_token as hint: straight back to the application.
async function rpLogout(browser, signedIn) {
  const end = client.buildEndSessionUrl(signedIn.config, {
    id_token_hint: signedIn.tokens.id_token, post_logout_redirect_uri: SIGNED_OUT, state: 'bye',
  });
  const r = await browser.get(end.href);
  assert.equal(r.status, 302, r.text);
  assert.equal(r.location, `${SIGNED_OUT}?state=bye`);
}

describe(`back-channel logout (${STORE} store)`, () => {
  test('discovery advertises back-channel logout with sid', () => withServer(async (server) => {
    const r = await fetch(`${server.issuer}/.well-known/openid-configuration`);
    assert.equal(r.status, 200);
    const d = await r.json();
    assert.equal(d.backchannel_logout_supported, true);
    assert.equal(d.backchannel_logout_session_supported, true);
  }));

  test('RP-initiated logout: one signed logout token for the session, posted to the app', () => withServer(async (server) => {
    const rx = await receiver();
    try {
      const s = await seed(server, { user: 'bcl-rp', app: { backchannel_logout_uri: `${rx.url}/bcl` } });
      const browser = new Browser();
      const first = await passwordSignIn(server, s, browser);
      await sleep(300);
      assert.equal(rx.posts.length, 0, 'a sign-in posts nothing');
      await rpLogout(browser, first);
      await waitForPosts(rx, 1, 'RP-initiated logout');
      assert.equal(rx.posts[0].path, '/bcl');
      await checkLogoutToken(server, rx.posts[0], { aud: s.clientId, idc: first.claims });
      await expectNoMore(rx, 1, 'after the logout', 1000);
    } finally {
      await rx.close();
    }
  }));

  test('SSO across two apps: sessions end tells both, same sid, each its own aud', () => withServer(async (server) => {
    const rx = await receiver();
    try {
      const user = 'bcl-sso';
      const a = await seed(server, { user, app: { backchannel_logout_uri: `${rx.url}/a` } });
      const b = await addApp(server, { backchannel_logout_uri: `${rx.url}/b` });
      const browser = new Browser();
      const inA = await passwordSignIn(server, a, browser);
      const inB = await ssoSignIn(server, b, browser);
      assert.equal(inB.claims.sid, inA.claims.sid, 'one SSO session');
      const end = ctl(server, ['sessions', 'end', user]);
      assert.equal(end.code, 0, end.stderr);
      await waitForPosts(rx, 2, 'sessions end');
      const byPath = Object.fromEntries(rx.posts.map((p) => [p.path, p]));
      assert.deepEqual(Object.keys(byPath).sort(), ['/a', '/b']);
      const ta = await checkLogoutToken(server, byPath['/a'], { aud: a.clientId, idc: inA.claims });
      const tb = await checkLogoutToken(server, byPath['/b'], { aud: b.clientId, idc: inB.claims });
      assert.equal(ta.sid, tb.sid);
      assert.notEqual(ta.jti, tb.jti, 'a jti per token');
      await expectNoMore(rx, 2, 'after sessions end', 1000);
    } finally {
      await rx.close();
    }
  }));

  test('an app without backchannel_logout_uri in the same session gets nothing', () => withServer(async (server) => {
    const rx = await receiver();
    try {
      const user = 'bcl-one';
      const withUri = await seed(server, { user, app: { backchannel_logout_uri: `${rx.url}/with` } });
      const without = await addApp(server);
      const browser = new Browser();
      const inWith = await passwordSignIn(server, withUri, browser);
      await ssoSignIn(server, without, browser);
      const r = await server.admin('DELETE', `/sessions?user=${user}`, undefined, server.adminToken);
      assert.equal(r.status, 200, r.text);
      await waitForPosts(rx, 1, 'DELETE /admin/v1/sessions');
      await expectNoMore(rx, 1, 'one app has a URI');
      assert.equal(rx.posts[0].path, '/with');
      await checkLogoutToken(server, rx.posts[0], { aud: withUri.clientId, idc: inWith.claims });
    } finally {
      await rx.close();
    }
  }));

  test('a receiver that answers 500 gets the token again', () => withServer(async (server) => {
    const rx = await receiver((n) => (n === 1 ? 500 : 200));
    try {
      const user = 'bcl-retry';
      const s = await seed(server, { user, app: { backchannel_logout_uri: `${rx.url}/bcl` } });
      const signedIn = await passwordSignIn(server, s, new Browser());
      const end = ctl(server, ['sessions', 'end', user]);
      assert.equal(end.code, 0, end.stderr);
      await waitForPosts(rx, 2, 'a retry after 500', 8000);
      for (const p of rx.posts) {
        assert.equal(p.path, '/bcl');
        const t = await checkLogoutToken(server, p, { aud: s.clientId, idc: signedIn.claims });
        assert.equal(t.sid, signedIn.claims.sid);
      }
      const gap = rx.posts[1].at - rx.posts[0].at;
      assert.ok(gap >= 500, `the retry waits about a second (${gap} ms)`);
      await expectNoMore(rx, 2, 'a 200 ends the retries');
    } finally {
      await rx.close();
    }
  }));

  test('three attempts at most, about 1 s and 3 s apart; a receiver down at first gets the retry', () => withServer(async (server) => {
    const port = await freePort();
    const user = 'bcl-attempts';
    const s = await seed(server, { user, app: { backchannel_logout_uri: `http://127.0.0.1:${port}/bcl` } });
    // Nothing listens yet: the first attempt meets a refused connection.
    let signedIn = await passwordSignIn(server, s, new Browser());
    assert.equal(ctl(server, ['sessions', 'end', user]).code, 0);
    await sleep(300);
    let rx = await receiver(() => 200, port);
    try {
      await waitForPosts(rx, 1, 'the retry after a network error', 8000);
      await checkLogoutToken(server, rx.posts[0], { aud: s.clientId, idc: signedIn.claims });
      await expectNoMore(rx, 1, 'delivered', 1000);
    } finally {
      await rx.close();
    }
    // A receiver that always fails: three attempts in all.
    rx = await receiver(() => 503, port);
    try {
      signedIn = await passwordSignIn(server, s, new Browser());
      assert.equal(ctl(server, ['sessions', 'end', user]).code, 0);
      await waitForPosts(rx, 3, 'three attempts', 10000);
      for (const p of rx.posts) await checkLogoutToken(server, p, { aud: s.clientId, idc: signedIn.claims });
      const gaps = [rx.posts[1].at - rx.posts[0].at, rx.posts[2].at - rx.posts[1].at];
      assert.ok(gaps[0] >= 500 && gaps[1] >= 2000, `about 1 s, then about 3 s: ${gaps.join(', ')} ms`);
      await expectNoMore(rx, 3, 'no fourth attempt', 4000);
    } finally {
      await rx.close();
    }
  }));

  test('the same user signing in again renews the session, its apps not told; another user ends it', () => withServer(async (server) => {
    const rx = await receiver();
    try {
      const user = 'bcl-again';
      const s = await seed(server, { user, app: { backchannel_logout_uri: `${rx.url}/bcl` } });
      // Another user the same app reaches, under the same policy.
      const other = 'bcl-again2';
      const u = await server.admin('POST', '/users', { username: other, password: 'another horse battery' });
      assert.equal(u.status, 201, u.text);
      const as = await server.admin('POST', `/policies/sso-${user}/assign`, { user: other });
      assert.equal(as.status, 200, as.text);
      const browser = new Browser();
      const first = await passwordSignIn(server, s, browser);
      const oldCookie = browser.jar.get('af_sso');
      assert.ok(oldCookie);
      // The same user again (prompt=login shows the form): the session
      // goes on, with a new cookie and auth_time, and the app is told
      // nothing, since nobody signed out.
      await sleep(1100);
      const second = await passwordSignIn(server, s, browser, { extra: { prompt: 'login' } });
      assert.equal(second.claims.sid, first.claims.sid, 'the same session');
      assert.ok(second.claims.auth_time > first.claims.auth_time, 'signed in anew');
      assert.notEqual(browser.jar.get('af_sso'), oldCookie, 'a new cookie');
      const sessions = (await server.admin('GET', `/sessions?user=${user}`)).json.sessions;
      assert.equal(sessions.length, 1, JSON.stringify(sessions));
      assert.equal(sessions[0].sid, first.claims.sid);
      // The cookie before is no session any more.
      const stale = new Browser();
      stale.jar.set('af_sso', oldCookie);
      const config = await discover(server, s);
      const none = await authRequest(config, { prompt: 'none' });
      const r = await stale.get(none.url.href);
      assert.equal(new URL(r.location).searchParams.get('error'), 'login_required');
      await expectNoMore(rx, 0, 'the session lives on', 1000);
      // Another user in the same browser: the session ends, and the app
      // is told of it under its one sid.
      const third = await passwordSignIn(server, s, browser,
        { user: other, password: 'another horse battery', extra: { prompt: 'login' } });
      assert.notEqual(third.claims.sub, second.claims.sub);
      assert.notEqual(third.claims.sid, second.claims.sid);
      await waitForPosts(rx, 1, 'signing in as another user');
      await checkLogoutToken(server, rx.posts[0], { aud: s.clientId, idc: second.claims });
      await expectNoMore(rx, 1, 'the other user\'s session lives on', 1000);
    } finally {
      await rx.close();
    }
  }));

  test('an admin disabling the user or setting a new password ends the sessions: the apps are told', () => withServer(async (server) => {
    const rx = await receiver();
    try {
      const user = 'bcl-admin';
      const s = await seed(server, { user, app: { backchannel_logout_uri: `${rx.url}/bcl` } });
      const first = await passwordSignIn(server, s, new Browser());
      let r = await server.admin('PATCH', `/users/${user}`, { enabled: false }, server.adminToken);
      assert.equal(r.status, 200, r.text);
      await waitForPosts(rx, 1, 'the user disabled');
      await checkLogoutToken(server, rx.posts[0], { aud: s.clientId, idc: first.claims });
      r = await server.admin('PATCH', `/users/${user}`, { enabled: true }, server.adminToken);
      assert.equal(r.status, 200, r.text);
      await expectNoMore(rx, 1, 'enabling again', 1000);
      const second = await passwordSignIn(server, s, new Browser());
      r = await server.admin('PUT', `/users/${user}/password`, { password: 'a brand new passphrase' }, server.adminToken);
      assert.equal(r.status, 200, r.text);
      await waitForPosts(rx, 2, 'a new password set by an admin');
      await checkLogoutToken(server, rx.posts[1], { aud: s.clientId, idc: second.claims });
      await expectNoMore(rx, 2, 'after the new password', 1000);
    } finally {
      await rx.close();
    }
  }));

  test('the URI the app has when the session ends is the one posted to', () => withServer(async (server) => {
    const rx = await receiver();
    try {
      const user = 'bcl-moment';
      const s = await seed(server, { user, app: { backchannel_logout_uri: `${rx.url}/old` } });
      // Removed after the sign-in: nothing is posted.
      await passwordSignIn(server, s, new Browser());
      let r = await server.admin('PATCH', `/apps/${s.clientId}`, { backchannel_logout_uri: '' });
      assert.equal(r.status, 200, r.text);
      assert.equal(ctl(server, ['sessions', 'end', user]).code, 0);
      await expectNoMore(rx, 0, 'the URI was removed before the end');
      // Set after the sign-in: posted there.
      const second = await passwordSignIn(server, s, new Browser());
      r = await server.admin('PATCH', `/apps/${s.clientId}`, { backchannel_logout_uri: `${rx.url}/new` });
      assert.equal(r.status, 200, r.text);
      assert.equal(ctl(server, ['sessions', 'end', user]).code, 0);
      await waitForPosts(rx, 1, 'the URI set after the sign-in');
      assert.equal(rx.posts[0].path, '/new');
      await checkLogoutToken(server, rx.posts[0], { aud: s.clientId, idc: second.claims });
    } finally {
      await rx.close();
    }
  }));

  test('backchannel_logout_uri: checked as redirect URIs, removed by "", set by authflowctl', () => withServer(async (server) => {
    const name = () => `bclv-${randomBytes(4).toString('hex')}`;
    const body = (uri) => ({ name: name(), redirect_uris: [REDIRECT], backchannel_logout_uri: uri });
    for (const bad of ['ftp://rp.example.com/x', 'https://rp.example.com/bcl#f', 'http://rp.example.com/bcl',
      'https://user@rp.example.com/bcl', 'bcl']) {
      const r = await server.admin('POST', '/apps', body(bad));
      assert.equal(r.status, 400, `POST /apps with ${JSON.stringify(bad)}: ${r.text}`);
      assert.match(r.json?.message ?? '', /backchannel_logout_uri/, `the message names the member: ${r.text}`);
    }
    assert.equal((await server.admin('POST', '/apps', body(42))).status, 400, 'a number');
    // Loopback http is taken, as for redirect URIs.
    let r = await server.admin('POST', '/apps', body('http://127.0.0.1:8443/bcl'));
    assert.equal(r.status, 201, r.text);
    r = await server.admin('POST', '/apps', body('https://rp.example.com/bcl'));
    assert.equal(r.status, 201, r.text);
    const id = r.json.client_id;
    r = await server.admin('GET', `/apps/${id}`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.backchannel_logout_uri, 'https://rp.example.com/bcl');
    // A bad PATCH changes nothing.
    r = await server.admin('PATCH', `/apps/${id}`, { backchannel_logout_uri: 'http://rp.example.com/bcl' });
    assert.equal(r.status, 400, r.text);
    assert.match(r.json?.message ?? '', /backchannel_logout_uri/);
    assert.equal((await server.admin('GET', `/apps/${id}`)).json.backchannel_logout_uri, 'https://rp.example.com/bcl');
    r = await server.admin('PATCH', `/apps/${id}`, { backchannel_logout_uri: '' });
    assert.equal(r.status, 200, r.text);
    r = await server.admin('GET', `/apps/${id}`);
    assert.ok(!('backchannel_logout_uri' in r.json), `removed: ${r.text}`);
    // authflowctl app set, and "" removes.
    let c = ctl(server, ['app', 'set', id, '--backchannel-logout-uri', 'https://rp.example.com/other']);
    assert.equal(c.code, 0, c.stderr);
    assert.equal((await server.admin('GET', `/apps/${id}`)).json.backchannel_logout_uri, 'https://rp.example.com/other');
    c = ctl(server, ['app', 'set', id, '--backchannel-logout-uri', 'ftp://rp.example.com/x']);
    assert.notEqual(c.code, 0, 'a bad URI is refused');
    assert.match(c.stderr, /backchannel_logout_uri/, c.stderr);
    assert.equal((await server.admin('GET', `/apps/${id}`)).json.backchannel_logout_uri, 'https://rp.example.com/other');
    c = ctl(server, ['app', 'set', id, '--backchannel-logout-uri', '']);
    assert.equal(c.code, 0, c.stderr);
    assert.ok(!('backchannel_logout_uri' in (await server.admin('GET', `/apps/${id}`)).json), 'removed by authflowctl');
    // authflowctl app add.
    c = ctl(server, ['--json', 'app', 'add', '--name', name(), '--redirect-uri', REDIRECT,
      '--backchannel-logout-uri', 'https://rp.example.com/added']);
    assert.equal(c.code, 0, c.stderr);
    const added = JSON.parse(c.stdout).client_id;
    assert.equal((await server.admin('GET', `/apps/${added}`)).json.backchannel_logout_uri, 'https://rp.example.com/added');
  }));

  test('a logout token not yet sent when the server dies is sent by the next start', { skip: STORE !== 'memory', timeout: 60000 }, async () => {
    const server = await startServer({ store: STORE });
    const port = await freePort();
    let again = null;
    let rx = null;
    try {
      const user = 'bcl-crash';
      const s = await seed(server, { user, app: { backchannel_logout_uri: `http://127.0.0.1:${port}/bcl` } });
      const signedIn = await passwordSignIn(server, s, new Browser());
      // Nothing listens: the first attempt fails, the next is a second off.
      assert.equal(ctl(server, ['sessions', 'end', user]).code, 0);
      await sleep(200);
      server.proc.kill('SIGKILL');
      await new Promise((res) => (server.proc.exitCode !== null || server.proc.signalCode !== null ? res() : server.proc.once('exit', res)));
      rx = await receiver(() => 200, port);
      again = spawn(path.join(BIN, 'authflow'), ['--config', server.configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      again.stderr.on('data', (d) => { stderr += d; });
      await waitForPosts(rx, 1, 'the token the first server held', 10000);
      await checkLogoutToken(server, rx.posts[0], { aud: s.clientId, idc: signedIn.claims });
      await expectNoMore(rx, 1, 'sent once', 1500);
      assert.doesNotMatch(stderr, /"level":"(error|fatal)"/);
    } finally {
      if (again) {
        again.kill('SIGTERM');
        await new Promise((res) => (again.exitCode !== null ? res() : again.once('exit', res)));
      }
      if (rx) await rx.close();
      await server.stop();
    }
  });
});

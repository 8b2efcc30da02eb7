// End-to-end: a real relying party (openid-client) against a real authflow,
// with the store backend from AF_STORE (memory or redis).
import assert from 'node:assert/strict';
import net from 'node:net';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { appendFileSync, chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import * as client from 'openid-client';
import {
  authRequest, BIN, Browser, ctl, discover, enrollPhone, freePort, hiddenFields, idsim, isLoginForm, openAuthorize,
  pageNumber, seed, setCookies, signIn, sleep, startServer,
} from './lib.mjs';

const REDIRECT = 'http://127.0.0.1:9000/login/callback';
const STORE = process.env.AF_STORE ?? 'memory';

let server;
before(async () => { server = await startServer({ store: STORE }); });
after(async () => {
  const exit = await server.stop();
  // A graceful stop: the server exits by itself on SIGTERM, status 0.
  assert.deepEqual(exit, { code: 0, sig: null }, server.stderr());
});

// An openid-client error carrying the given OAuth error code.
const isError = (code) => (e) => e?.error === code || e?.cause?.error === code;
// How a name no user has would look logged as a plain SHA-256: it never is.
const plainDigest = (name) => `unknown:${createHash('sha256').update(name).digest('hex').slice(0, 12)}`;

// GET /userinfo with a bearer token.
const userinfo = (token) => fetch(`${server.issuer}/userinfo`, { headers: { authorization: `Bearer ${token}` } });

// POSTs form to issuer's path p as client id with secret (client_secret_basic), with more headers.
const clientPost = (issuer, p, form, id, secret, headers = {}) => fetch(`${issuer}${p}`, {
  method: 'POST',
  headers: {
    'content-type': 'application/x-www-form-urlencoded',
    authorization: `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`,
    ...headers,
  },
  body: new URLSearchParams(form),
});

async function rp(s, { clientAuth = 'basic' } = {}) {
  const auth = clientAuth === 'post' ? client.ClientSecretPost(s.clientSecret) : client.ClientSecretBasic(s.clientSecret);
  return client.discovery(new URL(server.issuer), s.clientId, undefined, auth, { execute: [client.allowInsecureRequests] });
}

async function authUrl(config, extra = {}) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT,
    scope: 'openid profile email groups offline_access',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state, nonce, ...extra,
  });
  return { url, verifier, state, nonce };
}

// Whether browser still has an SSO session for config's app (prompt=none).
async function signedIn(browser, config) {
  const r = await browser.get((await authUrl(config, { prompt: 'none' })).url.href);
  return new URL(r.location).searchParams.get('code') !== null;
}

async function fullSignIn(s, browser = new Browser(), extra = {}, password = s.password) {
  const config = await rp(s);
  const a = await authUrl(config, extra);
  const r = await signIn(browser, server.issuer, a.url.href, s.user, password);
  assert.equal(r.status, 302, r.text);
  const cb = new URL(r.location);
  const tokens = await client.authorizationCodeGrant(config, cb, {
    pkceCodeVerifier: a.verifier, expectedState: a.state, expectedNonce: a.nonce,
  });
  return { config, tokens, browser, cb };
}

/*
 * Codes live 60 seconds. Two are issued by the first test of the file;
 * one is redeemed 50 s later, while other tests run, and the other is
 * tried by the last test of the file, once 61 s have passed: the minute
 * runs beside the rest of the file rather than on its own.
 */
let expiring;

async function issueExpiring() {
  const s = await seed(server, { user: 'kate' });
  const config = await rp(s);
  const codes = [];
  for (let i = 0; i < 2; i++) {
    const a = await authUrl(config);
    const r = await signIn(new Browser(), server.issuer, a.url.href, s.user, s.password);
    assert.equal(r.status, 302, r.text);
    codes.push({ a, r });
  }
  const redeem = ({ a, r }) => client.authorizationCodeGrant(config, new URL(r.location), {
    pkceCodeVerifier: a.verifier, expectedState: a.state, expectedNonce: a.nonce,
  });
  const at = Date.now(); // both codes were issued by then
  const until = (ms) => new Promise((res) => setTimeout(res, Math.max(0, at + ms - Date.now())));
  // Settled either way, so that a failure waits for the last test.
  const early = until(50000).then(() => redeem(codes[0])).then(
    (tokens) => ({ tokens, age: Date.now() - at }), (error) => ({ error }));
  expiring = { redeem, until, early, late: codes[1] };
}

describe(`authflow OIDC (${STORE} store)`, () => {
  test('authorization codes issued for the expiry test at the end of the file', issueExpiring);

  test('discovery and jwks publish what relying parties need', async () => {
    const d = await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json();
    assert.equal(d.issuer, server.issuer);
    for (const k of ['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri', 'end_session_endpoint']) {
      assert.ok(d[k]?.startsWith(server.issuer), k);
    }
    assert.deepEqual(d.code_challenge_methods_supported, ['S256']);
    assert.deepEqual(d.token_endpoint_auth_methods_supported, ['client_secret_basic', 'client_secret_post']);
    assert.equal(d.authorization_response_iss_parameter_supported, true);
    assert.deepEqual(d.acr_values_supported, ['urn:authflow:acr:pwd', 'urn:authflow:acr:mfa']);
    assert.deepEqual(d.prompt_values_supported, ['none', 'login', 'consent', 'select_account']);
    // RFC 8414's address serves the same metadata.
    const o = await (await fetch(`${server.issuer}/.well-known/oauth-authorization-server`)).json();
    assert.deepEqual(o, d);
    // A method an endpoint does not take: 405, Allow naming HEAD where GET
    // is, and an OAuth error body at OAuth endpoints.
    for (const [p, method, allow] of [['/jwks', 'POST', 'GET, HEAD'], ['/token', 'GET', 'POST'],
      ['/userinfo', 'PUT', 'GET, HEAD, POST']]) {
      const r = await fetch(`${server.issuer}${p}`, { method });
      assert.equal(r.status, 405, p);
      assert.equal(r.headers.get('allow'), allow, p);
      assert.equal((await r.json()).error, 'invalid_request', p);
    }
    assert.equal((await fetch(`${server.issuer}/jwks`, { method: 'HEAD' })).status, 200);
    const jwks = await (await fetch(d.jwks_uri)).json();
    assert.ok(jwks.keys.length >= 1);
    const kids = new Set();
    for (const k of jwks.keys) {
      assert.equal(k.kty, 'RSA');
      for (const p of ['d', 'p', 'q', 'dp', 'dq', 'qi']) assert.equal(k[p], undefined, `private ${p}`);
      kids.add(k.kid);
    }
    assert.equal(kids.size, jwks.keys.length);
  });

  test('metrics: one series per route name and status, unmatched paths as unknown', async () => {
    for (const p of ['/static/authflow.css', '/static/mfa.js', '/static/brand-logo', '/healthz', '/no-such-page']) {
      await (await fetch(`${server.issuer}${p}`)).text();
    }
    // A request is counted once its answer is sent, which may be a moment
    // after the client has read it.
    let text = '';
    for (let i = 0; i < 40; i++) {
      text = await (await fetch(`${server.issuer}/metrics`)).text();
      if (text.includes('authflow_http_requests_total{route="unknown",status="404"}')) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    const series = text.split('\n').filter((l) => l.startsWith('authflow_http_requests_total{'));
    const labels = series.map((l) => l.split(' ')[0]);
    assert.equal(new Set(labels).size, labels.length, `a series printed twice:\n${series.join('\n')}`);
    assert.ok(!text.includes('(null)'));
    assert.ok(labels.some((l) => l.includes('route="static"')));
    assert.ok(labels.some((l) => l.includes('route="healthz"')));
    assert.ok(labels.includes('authflow_http_requests_total{route="unknown",status="404"}'), series.join('\n'));
    assert.ok(!labels.some((l) => l.includes('route="demo"')), 'no demo route served here');
  });

  test('an administrator lists the applications holding a user\'s refresh tokens', async () => {
    const s = await seed(server, { user: 'tobias' });
    const list = async () => {
      const r = await server.admin('GET', `/grants?user=${s.user}`);
      assert.equal(r.status, 200, r.text);
      return r.json.grants;
    };
    assert.deepEqual(await list(), [], 'none before a sign-in');
    const { config, tokens } = await fullSignIn(s);
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
    let grants = await list();
    assert.equal(grants.length, 1, 'one family, whatever its rotations');
    const [g] = grants;
    assert.equal(g.client_id, s.clientId);
    assert.match(g.app, /^rp-tobias-/);
    assert.equal(g.scope, 'openid profile email groups offline_access');
    assert.deepEqual(g.amr, ['pwd']);
    assert.equal(g.current, true);
    assert.equal(g.auth_time, tokens.claims().auth_time);
    assert.ok(g.expires_at > Date.now() / 1000 + 29 * 86400, JSON.stringify(g));
    // Nothing that is or leads to a token, nor the application's nonce.
    const text = JSON.stringify(grants);
    for (const secret of [tokens.refresh_token, refreshed.refresh_token, tokens.access_token]) {
      assert.ok(!text.includes(secret.slice(-20)));
    }
    assert.deepEqual(Object.keys(g).sort(), ['amr', 'app', 'auth_time', 'client_id', 'current', 'expires_at', 'scope']);
    // authflowctl shows the same.
    const out = ctl(server, ['sessions', 'tokens', s.user]);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /^APP\s+CLIENT-ID\s+SCOPE/m);
    assert.ok(out.stdout.includes(s.clientId), out.stdout);
    // Ending the user's sessions ends it: listed as no longer current.
    assert.equal((await server.admin('DELETE', `/sessions?user=${s.user}`)).status, 200);
    grants = await list();
    assert.equal(grants.length, 1);
    assert.equal(grants[0].current, false);
    await assert.rejects(client.refreshTokenGrant(config, refreshed.refresh_token), isError('invalid_grant'));
    // Removing the user takes it away; a bad name is refused.
    assert.equal((await server.admin('DELETE', `/users/${s.user}`)).status, 200);
    assert.deepEqual(await list(), []);
    assert.equal((await server.admin('GET', '/grants')).status, 400);
    assert.equal((await server.admin('GET', '/grants?user=a%0Ab')).status, 400);
  });

  test('code flow with PKCE: id_token, userinfo, refresh, logout', async () => {
    const s = await seed(server, { user: 'alice' });
    const { config, tokens, browser, cb } = await fullSignIn(s);
    assert.equal(cb.searchParams.get('iss'), server.issuer);
    const c = tokens.claims();
    assert.equal(c.iss, server.issuer);
    assert.equal(c.aud, s.clientId);
    assert.equal(c.azp, s.clientId);
    assert.deepEqual(c.amr, ['pwd']);
    assert.ok(c.sid && c.auth_time && c.at_hash && c.acr);
    assert.equal(c.preferred_username, 'alice');
    assert.equal(c.email_verified, true);
    const ui = await client.fetchUserInfo(config, tokens.access_token, c.sub);
    assert.equal(ui.sub, c.sub);
    assert.equal(ui.preferred_username, 'alice');
    assert.equal(ui.email, 'alice@example.com');
    assert.ok(tokens.refresh_token, 'offline_access gives a refresh token');
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
    assert.ok(refreshed.access_token);
    assert.notEqual(refreshed.refresh_token, tokens.refresh_token, 'rotated');
    const again = await client.refreshTokenGrant(config, refreshed.refresh_token);
    assert.ok(again.refresh_token, 'the rotated token refreshes in turn');
    assert.equal((await userinfo(refreshed.access_token)).status, 200, 'an earlier refresh keeps its access token');
    await assert.rejects(client.refreshTokenGrant(config, tokens.refresh_token), isError('invalid_grant'));
    await assert.rejects(client.refreshTokenGrant(config, again.refresh_token), isError('invalid_grant'),
      'presenting a rotated-out refresh token revoked the current one');
    // RP-initiated logout returns to the registered URI with state.
    const end = client.buildEndSessionUrl(config, {
      id_token_hint: tokens.id_token,
      post_logout_redirect_uri: 'http://127.0.0.1:9000/signed-out',
      state: 'bye',
    });
    const out = await browser.get(end.href);
    assert.equal(out.status, 302);
    assert.equal(out.location, 'http://127.0.0.1:9000/signed-out?state=bye');
    // The session is gone: prompt=none now needs a login.
    const a = await authUrl(config, { prompt: 'none' });
    const r = await browser.get(a.url.href);
    assert.equal(r.status, 302);
    assert.equal(new URL(r.location).searchParams.get('error'), 'login_required');
  });

  test('profile: given and family names and when the profile changed, in tokens, userinfo and mapped claims', async () => {
    const s = await seed(server, { user: 'lena-gf', app: { claims: { surname: 'family_name' } } });
    const set = ctl(server, ['user', 'set', 'lena-gf', '--given-name', 'Lena', '--family-name', 'M\u00fcller-Sch\u00f6n']);
    assert.equal(set.code, 0, set.stderr);
    const shown = (await server.admin('GET', '/users/lena-gf')).json;
    assert.equal(shown.given_name, 'Lena');
    assert.ok(shown.profile_updated_at >= shown.created_at);
    const { config, tokens } = await fullSignIn(s);
    const c = tokens.claims();
    assert.equal(c.given_name, 'Lena');
    assert.equal(c.family_name, 'M\u00fcller-Sch\u00f6n');
    assert.equal(c.surname, 'M\u00fcller-Sch\u00f6n');
    assert.equal(c.updated_at, shown.profile_updated_at);
    const ui = await client.fetchUserInfo(config, tokens.access_token, c.sub);
    assert.equal(ui.family_name, 'M\u00fcller-Sch\u00f6n');
    assert.equal(ui.updated_at, shown.profile_updated_at);
    const meta = await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json();
    for (const claim of ['given_name', 'family_name', 'updated_at']) assert.ok(meta.claims_supported.includes(claim), claim);
    // Without the profile scope, none of them.
    const narrow = await fullSignIn(s, new Browser(), { scope: 'openid email' });
    assert.equal(narrow.tokens.claims().given_name, undefined);
    // An empty value clears; a control character is refused.
    assert.equal(ctl(server, ['user', 'set', 'lena-gf', '--given-name', '']).code, 0);
    assert.equal((await server.admin('GET', '/users/lena-gf')).json.given_name, undefined);
    const bad = ctl(server, ['user', 'set', 'lena-gf', '--family-name', 'a\tb']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /family_name/);
  });

  test('client_secret_post works and SSO signs a second app in silently', async () => {
    const s = await seed(server, { user: 'bob' });
    const first = await fullSignIn(s);
    const app2 = await server.admin('POST', '/apps', { name: `second-${Date.now()}`, redirect_uris: [REDIRECT] });
    assert.equal(app2.status, 201, app2.text);
    await server.admin('POST', `/apps/${app2.json.client_id}/deploy`, { all: true });
    const s2 = { ...s, clientId: app2.json.client_id, clientSecret: app2.json.client_secret };
    const config2 = await rp(s2, { clientAuth: 'post' });
    const a = await authUrl(config2);
    const r = await first.browser.get(a.url.href);
    assert.equal(r.status, 302, 'no login page');
    const t = await client.authorizationCodeGrant(config2, new URL(r.location), {
      pkceCodeVerifier: a.verifier, expectedState: a.state, expectedNonce: a.nonce,
    });
    assert.equal(t.claims().sub, first.tokens.claims().sub);
    assert.equal(t.claims().sid, first.tokens.claims().sid);
  });

  test('prompt=login, prompt=select_account and max_age=0 force a fresh sign-in', async () => {
    const s = await seed(server, { user: 'carol' });
    const { config, browser } = await fullSignIn(s);
    for (const extra of [{ prompt: 'login' }, { prompt: 'select_account' }, { max_age: '0' }]) {
      const a = await authUrl(config, extra);
      const o = await openAuthorize(browser, server.issuer, a.url.href);
      assert.ok(o.loginPage, `login page for ${JSON.stringify(extra)}`);
    }
    // login_hint fills in the user name (escaped) and moves the cursor to
    // the password; a hint that cannot be a user name is ignored.
    const field = (html, name) => html.match(new RegExp(`<input[^>]* name="${name}"[^>]*>`))[0];
    for (const [hint, shown] of [['Carol', 'Carol'], ['"><script>', null], ['+1 555 0100', null]]) {
      const a = await authUrl(config, { login_hint: hint, prompt: 'login' });
      const o = await openAuthorize(browser, server.issuer, a.url.href);
      assert.ok(o.loginPage, `login page for login_hint ${hint}`);
      const user = field(o.loginPage.text, 'username');
      const pass = field(o.loginPage.text, 'password');
      assert.doesNotMatch(o.loginPage.text, /<script>/);
      if (shown === null) {
        assert.match(user, / autofocus value=""/, hint);
        assert.doesNotMatch(pass, /autofocus/);
      } else {
        assert.match(user, new RegExp(` value="${shown}"`));
        assert.doesNotMatch(user, /autofocus/);
        assert.match(pass, /autofocus/);
      }
    }
  });

  test('form_post answers with a form to the redirect URI', async () => {
    const s = await seed(server, { user: 'dave' });
    const config = await rp(s);
    const a = await authUrl(config, { response_mode: 'form_post' });
    const r = await signIn(new Browser(), server.issuer, a.url.href, s.user, s.password);
    assert.equal(r.status, 200);
    assert.match(r.text, new RegExp(`action="${REDIRECT}"`));
    // The form may go to the application; the branding logo may show.
    const csp = r.headers.get('content-security-policy');
    assert.match(csp, /form-action 'self' http:\/\/127\.0\.0\.1:9000;/);
    assert.match(csp, /img-src 'self'/);
    const f = hiddenFields(r.text);
    assert.ok(f.code);
    assert.equal(f.state, a.state);
    assert.equal(f.iss, server.issuer);
  });

  test('refusals: unknown client, redirect mismatch, prompt=none, CSRF', async () => {
    const s = await seed(server, { user: 'erin' });
    const b = new Browser();
    const base = `${server.issuer}/authorize?response_type=code&scope=openid&state=x`;
    let r = await b.get(`${base}&client_id=nope&redirect_uri=${encodeURIComponent(REDIRECT)}`);
    assert.equal(r.status, 400);
    assert.equal(r.location, null, 'never a redirect');
    r = await b.get(`${base}&client_id=${s.clientId}&redirect_uri=${encodeURIComponent('https://evil.example/cb')}`);
    assert.equal(r.status, 400);
    assert.equal(r.location, null);
    r = await b.get(`${base}&client_id=${s.clientId}&redirect_uri=${encodeURIComponent(REDIRECT)}&prompt=none`);
    assert.equal(new URL(r.location).searchParams.get('error'), 'login_required');
    r = await b.get(`${base}&client_id=${s.clientId}&redirect_uri=${encodeURIComponent(REDIRECT)}&code_challenge=${'a'.repeat(43)}&code_challenge_method=plain`);
    assert.equal(new URL(r.location).searchParams.get('error'), 'invalid_request');
    r = await b.get(`${base.replace('scope=openid', 'scope=profile')}&client_id=${s.clientId}&redirect_uri=${encodeURIComponent(REDIRECT)}`);
    assert.equal(new URL(r.location).searchParams.get('error'), 'invalid_scope');
    // CSRF: the form without its token, and from another browser.
    const config = await rp(s);
    const a = await authUrl(config);
    const o = await openAuthorize(b, server.issuer, a.url.href);
    r = await b.post(`${server.issuer}/login`, { flow: o.fields.flow, username: s.user, password: s.password });
    assert.equal(r.status, 400);
    // Posted from another browser, the form only starts a sign-in there
    // again: nobody is signed in, and the password is not used.
    const other = new Browser();
    r = await other.post(`${server.issuer}/login`, { ...o.fields, username: s.user, password: s.password });
    assert.equal(r.status, 303);
    assert.match(r.location, /^\/authorize\?restarted=1&/);
    assert.doesNotMatch(r.location, /password|correct/);
    // No session: only the name typed, kept for the new sign-in's form,
    // and taken by the next /authorize whatever it answers.
    assert.equal(r.headers.get('set-cookie'), `af_typed=${s.user}; Path=/; HttpOnly; SameSite=Lax`);
    assert.equal((await other.get(`${server.issuer}/authorize?client_id=nobody&restarted=1`)).status, 400);
    assert.ok(!other.jar.has('af_typed'), 'the typed name is gone');
    // Wrong password: one generic message, no code.
    r = await b.post(`${server.issuer}/login`, { ...o.fields, username: s.user, password: 'wrong' });
    assert.equal(r.status, 401);
    assert.match(r.text, /Wrong user name or password/);
    r = await b.post(`${server.issuer}/login`, { ...o.fields, username: 'nobody', password: 'wrong' });
    assert.match(r.text, /Wrong user name or password/);
  });

  test('sign-ins never finished leave at most 8 flow cookies in a browser', async () => {
    const s = await seed(server, { user: 'flo' });
    const config = await rp(s);
    const b = new Browser();
    let last;
    for (let i = 0; i < 20; i++) {
      last = await authUrl(config);
      const o = await openAuthorize(b, server.issuer, last.url.href);
      assert.ok(o.fields, 'the login form');
      const flows = [...b.jar.keys()].filter((k) => k.startsWith('af_flow_'));
      assert.ok(flows.length <= 8, `${flows.length} flow cookies after ${i + 1} sign-ins`);
    }
    // The newest sign-ins still finish.
    const r = await signIn(b, server.issuer, last.url.href, s.user, s.password);
    assert.equal(r.status, 302, r.text);
    await client.authorizationCodeGrant(config, new URL(r.location), {
      pkceCodeVerifier: last.verifier, expectedState: last.state, expectedNonce: last.nonce,
    });
  });

  test('introspection (RFC 7662): a client learns what its own tokens stand for, of any other only that it is not active', async () => {
    const s = await seed(server, { user: 'iris' });
    const other = await seed(server, { user: 'iris-other' });
    const { tokens } = await fullSignIn(s);
    const meta = await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json();
    assert.equal(meta.introspection_endpoint, `${server.issuer}/introspect`);
    assert.deepEqual(meta.introspection_endpoint_auth_methods_supported, ['client_secret_basic', 'client_secret_post']);
    const intro = (form, secret = s.clientSecret, id = s.clientId) => clientPost(server.issuer, '/introspect', form, id, secret);
    const now = Math.floor(Date.now() / 1000);
    let r = await intro({ token: tokens.access_token });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('cache-control'), 'no-store');
    const a = await r.json();
    const claims = tokens.claims();
    assert.equal(a.active, true);
    assert.equal(a.client_id, s.clientId);
    assert.equal(a.aud, s.clientId);
    assert.equal(a.iss, server.issuer);
    assert.equal(a.sub, claims.sub);
    assert.equal(a.username, 'iris');
    assert.equal(a.token_type, 'Bearer');
    assert.equal(a.scope, tokens.scope);
    assert.equal(a.exp - a.iat, 600);
    assert.ok(a.exp >= now + 590 && a.exp <= now + 602, `exp ${a.exp - now} s from now`);
    // The hint orders the look-ups; a wrong one finds the token all the same.
    for (const hint of ['refresh_token', 'access_token', 'something_else']) {
      r = await intro({ token: tokens.refresh_token, token_type_hint: hint });
      const rt = await r.json();
      assert.equal(rt.active, true, hint);
      assert.equal(rt.token_type, undefined, 'a refresh token is not used as a bearer token');
      assert.ok(rt.exp > now + 86400, 'a refresh token lives days');
    }
    // Another client, a made-up token, a JWT-looking one: only that it is not active.
    for (const [form, secret, id] of [
      [{ token: tokens.access_token }, other.clientSecret, other.clientId],
      [{ token: tokens.refresh_token }, other.clientSecret, other.clientId],
      [{ token: `${tokens.access_token.split('.')[0]}.${'A'.repeat(32)}` }],
      [{ token: 'eyJhbGciOiJub25lIn0.eyJqdGkiOiJ4In0.' }],
      [{ token: 'x'.repeat(5000) }],
    ]) {
      r = await intro(form, secret, id);
      assert.equal(r.status, 200);
      assert.deepEqual(await r.json(), { active: false });
    }
    r = await intro({ token: tokens.access_token }, 'wrong-secret');
    assert.equal(r.status, 401);
    assert.equal((await r.json()).error, 'invalid_client');
    r = await intro({});
    assert.equal(r.status, 400);
    assert.equal((await r.json()).error, 'invalid_request');
    r = await intro(new URLSearchParams([['token', tokens.access_token], ['token', tokens.refresh_token]]));
    assert.equal(r.status, 400, 'a parameter twice');
    assert.equal((await r.json()).error_description, 'a parameter was given more than once');
    r = await fetch(meta.introspection_endpoint);
    assert.equal(r.status, 405);
    // Client authentication in the form works as at the token endpoint.
    r = await fetch(meta.introspection_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: tokens.access_token, client_id: s.clientId, client_secret: s.clientSecret }),
    });
    assert.equal((await r.json()).active, true);
    // Revoked: not active.
    r = await clientPost(server.issuer, '/revoke', { token: tokens.access_token }, s.clientId, s.clientSecret);
    assert.equal(r.status, 200);
    assert.deepEqual(await (await intro({ token: tokens.access_token })).json(), { active: false });
    assert.equal((await (await intro({ token: tokens.refresh_token })).json()).active, true, 'the refresh token stays');
    // A disabled user's tokens are not active, nor again once enabled: disabling ended them.
    assert.equal((await server.admin('PATCH', '/users/iris', { enabled: false })).status, 200);
    assert.deepEqual(await (await intro({ token: tokens.refresh_token })).json(), { active: false });
    assert.equal((await server.admin('PATCH', '/users/iris', { enabled: true })).status, 200);
    assert.deepEqual(await (await intro({ token: tokens.refresh_token })).json(), { active: false });
  });

  test('token endpoint refusals: wrong secret, PKCE mismatch, code reuse revokes', async () => {
    const s = await seed(server, { user: 'frank' });
    const config = await rp(s);
    const b = new Browser();
    const a = await authUrl(config);
    const r = await signIn(b, server.issuer, a.url.href, s.user, s.password);
    const code = new URL(r.location).searchParams.get('code');
    const tok = (form, secret = s.clientSecret, id = s.clientId) => clientPost(server.issuer, '/token', form, id, secret);
    // Another application that sees the code (a log, a proxy) can neither
    // spend it nor, later, revoke what it gave: to it the code is unknown.
    const other = await seed(server, { user: 'frank-other' });
    const foreign = () => tok({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: a.verifier },
      other.clientSecret, other.clientId);
    let f = await foreign();
    assert.equal(f.status, 400);
    assert.equal((await f.json()).error, 'invalid_grant');
    // Token requests by grant and outcome, as counted before this test.
    const tokenCounts = async () => {
      const text = await (await fetch(`${server.issuer}/metrics`)).text();
      const n = {};
      for (const m of text.matchAll(/^authflow_tokens_total\{grant="([a-z_]+)",outcome="([a-z_]+)"\} (\d+)$/gm)) n[`${m[1]}/${m[2]}`] = Number(m[3]);
      return n;
    };
    const before = await tokenCounts();
    let res = await tok({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: a.verifier }, 'wrong-secret');
    assert.equal(res.status, 401);
    assert.equal((await res.json()).error, 'invalid_client');
    // Parameters without a value are as if omitted; unknown ones are ignored.
    res = await tok(new URLSearchParams([['grant_type', 'authorization_code'], ['code', code],
      ['redirect_uri', REDIRECT], ['code_verifier', a.verifier], ['client_secret', ''], ['scope', ''],
      ['resource', 'https://a'], ['resource', 'https://b']]));
    assert.equal(res.status, 200);
    const t = await res.json();
    assert.ok(t.refresh_token);
    assert.equal((await userinfo(t.access_token)).status, 200);
    f = await foreign();
    assert.equal((await f.json()).error, 'invalid_grant');
    assert.equal((await userinfo(t.access_token)).status, 200, 'another client\'s replay revokes nothing');
    res = await tok({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: a.verifier });
    assert.equal(res.status, 400);
    assert.equal((await res.json()).error, 'invalid_grant');
    assert.equal((await userinfo(t.access_token)).status, 401, 'the replay revoked the first access token');
    res = await tok({ grant_type: 'refresh_token', refresh_token: t.refresh_token });
    assert.equal((await res.json()).error, 'invalid_grant', 'the replay revoked the refresh token');
    // The replay is an audit event by the client, against the user.
    const ev = (await server.admin('GET', '/audit?limit=50')).json.events
      .find((e) => e.action === 'token.code_reuse' && e.target === 'frank');
    assert.ok(ev, 'an audit event for the replayed code');
    assert.equal(ev.actor, `client:${s.clientId}`);
    assert.equal(ev.detail.client_id, s.clientId);
    const line = server.stderr().split('\n').filter((l) => l.includes('"event":"token"')).map((l) => JSON.parse(l))
      .find((l) => l.rid === ev.request_id);
    assert.equal(line?.outcome, 'code_replayed_tokens_revoked');
    assert.equal(line.user, 'frank');
    // The metrics tell the replay apart from a code merely wrong.
    const after = await tokenCounts();
    const delta = (k) => (after[k] ?? NaN) - (before[k] ?? NaN);
    assert.equal(delta('authorization_code/invalid_client'), 1);
    assert.equal(delta('authorization_code/issued'), 1);
    assert.equal(delta('authorization_code/reused'), 1);
    // The other client's attempt after the redemption: a code unknown to it.
    assert.equal(delta('authorization_code/invalid_grant'), 1);
    assert.equal(delta('refresh_token/invalid_grant'), 1);
    // PKCE mismatch.
    const a2 = await authUrl(config);
    const r2 = await signIn(b, server.issuer, a2.url.href, s.user, s.password);
    res = await tok({ grant_type: 'authorization_code', code: new URL(r2.location).searchParams.get('code'), redirect_uri: REDIRECT, code_verifier: client.randomPKCECodeVerifier() });
    assert.equal((await res.json()).error, 'invalid_grant');
    // Revocation.
    const { tokens } = await fullSignIn(s, b);
    await client.tokenRevocation(config, tokens.access_token);
    assert.equal((await userinfo(tokens.access_token)).status, 401);
    // A token with a known selector but another secret part is refused.
    const [sel] = tokens.refresh_token.split('.');
    assert.equal((await userinfo(`${sel}.${'A'.repeat(32)}`)).status, 401);
    // A user deleted and made again under the same name is someone else.
    const { tokens: live } = await fullSignIn(s);
    assert.equal((await userinfo(live.access_token)).status, 200);
    const redis = STORE === 'redis'
      ? (...args) => execFileSync('redis-cli', ['-u', process.env.AF_TEST_REDIS_URL, '--raw', ...args]).toString().trim()
      : null;
    const rtKey = `e2e${server.port}:rt:${live.refresh_token.split('.')[0]}`;
    if (redis) assert.equal(redis('EXISTS', rtKey), '1');
    assert.equal((await server.admin('DELETE', `/users/${s.user}`)).status, 200);
    // Its refresh token's record (user name, sub, nonce) goes with it.
    if (redis) {
      assert.equal(redis('EXISTS', rtKey), '0');
      assert.equal(redis('EXISTS', `e2e${server.port}:user_grants:${s.user}`), '0');
    }
    const again = await server.admin('POST', '/users', { username: s.user, password: s.password });
    assert.equal(again.status, 201, again.text);
    assert.equal((await userinfo(live.access_token)).status, 401);
  });

  test('id_token_hint names the user: another one signing in gets login_required, not a code', async () => {
    const bob = await seed(server, { user: 'hint-bob' });
    const carol = await seed(server, { user: 'hint-carol' });
    assert.equal((await server.admin('POST', `/apps/${bob.clientId}/deploy`, { users: [carol.user] })).status, 200);
    const { config, tokens } = await fullSignIn(bob);
    const hint = tokens.id_token;
    // A new browser (no session): carol signs in, bob was asked for.
    let a = await authUrl(config, { id_token_hint: hint });
    const cb = new Browser();
    let r = await signIn(cb, server.issuer, a.url.href, carol.user, carol.password);
    assert.equal(r.status, 302, r.text);
    let back = new URL(r.location);
    assert.equal(back.searchParams.get('error'), 'login_required');
    assert.equal(back.searchParams.get('state'), a.state);
    assert.equal(back.searchParams.get('code'), null);
    // carol's session (begun all the same) does not fit the hint either.
    a = await authUrl(config, { id_token_hint: hint, prompt: 'none' });
    r = await cb.get(a.url.href);
    assert.equal(new URL(r.location).searchParams.get('error'), 'login_required');
    // A subject in the URL counts only in a restart, which asks for a
    // sign-in: it cannot ask a session whose user it is.
    a = await authUrl(config, { prompt: 'none' });
    r = await cb.get(`${a.url.href}&restarted=1&hint_sub=${encodeURIComponent(tokens.claims().sub)}`);
    assert.ok(new URL(r.location).searchParams.get('code'), r.location);
    // bob himself gets his code.
    a = await authUrl(config, { id_token_hint: hint });
    r = await signIn(new Browser(), server.issuer, a.url.href, bob.user, bob.password);
    back = new URL(r.location);
    assert.equal(back.searchParams.get('error'), null);
    const t = await client.authorizationCodeGrant(config, back, {
      pkceCodeVerifier: a.verifier, expectedState: a.state, expectedNonce: a.nonce,
    });
    assert.equal(t.claims().sub, tokens.claims().sub);
    // A sign-in started again (its form outlived its flow) keeps the hint.
    a = await authUrl(config, { id_token_hint: hint });
    const b = new Browser();
    const o = await openAuthorize(b, server.issuer, a.url.href);
    r = await b.post(`${server.issuer}/login`, { ...o.fields, flow: 'A'.repeat(43), username: carol.user, password: carol.password });
    assert.equal(r.status, 303);
    const again = new URL(r.location, server.issuer);
    assert.equal(again.searchParams.get('hint_sub'), tokens.claims().sub);
    r = await signIn(b, server.issuer, again.href, carol.user, carol.password);
    assert.equal(new URL(r.location).searchParams.get('error'), 'login_required');
  });

  test('RFC 9068 JWT access tokens: userinfo, forgery, revocation, code replay', async () => {
    const s = await seed(server, { user: 'jwt-user', app: { access_token_format: 'jwt' } });
    const { config, tokens, cb, browser } = await fullSignIn(s);
    // The ID token is a hint; the access token of the same user is not one.
    for (const [hint, want] of [[tokens.id_token, null], [tokens.access_token, 'invalid_request']]) {
      const a = await authUrl(config, { prompt: 'none', id_token_hint: hint });
      const r = await browser.get(a.url.href);
      assert.equal(r.status, 302);
      assert.equal(new URL(r.location).searchParams.get('error'), want);
    }
    const parts = tokens.access_token.split('.');
    assert.equal(parts.length, 3);
    const header = JSON.parse(Buffer.from(parts[0], 'base64url'));
    const claims = JSON.parse(Buffer.from(parts[1], 'base64url'));
    assert.equal(header.typ, 'at+jwt');
    assert.equal(claims.iss, server.issuer);
    assert.equal(claims.client_id, s.clientId);
    assert.ok(claims.jti && claims.exp > claims.iat);
    assert.equal((await userinfo(tokens.access_token)).status, 200);
    // Another payload under the same signature, or a broken signature.
    const other = Buffer.from(JSON.stringify({ ...claims, scope: 'openid admin' })).toString('base64url');
    assert.equal((await userinfo(`${parts[0]}.${other}.${parts[2]}`)).status, 401);
    assert.equal((await userinfo(`${parts[0]}.${parts[1]}.${parts[2].slice(0, -4)}AAAA`)).status, 401);
    // Introspection (through openid-client) says what the JWT says, and nothing of a forged one.
    const seen = await client.tokenIntrospection(config, tokens.access_token);
    assert.equal(seen.active, true);
    assert.equal(seen.exp, claims.exp);
    assert.equal(seen.iat, claims.iat);
    assert.equal(seen.sub, claims.sub);
    assert.equal(seen.scope, claims.scope);
    assert.equal((await client.tokenIntrospection(config, `${parts[0]}.${other}.${parts[2]}`)).active, false);
    // A refresh gives a new JWT access token; the first one stays valid.
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
    const jti2 = JSON.parse(Buffer.from(refreshed.access_token.split('.')[1], 'base64url')).jti;
    assert.notEqual(jti2, claims.jti);
    assert.equal((await userinfo(refreshed.access_token)).status, 200);
    assert.equal((await userinfo(tokens.access_token)).status, 200);
    await client.tokenRevocation(config, refreshed.access_token);
    assert.equal((await userinfo(refreshed.access_token)).status, 401);
    assert.equal((await client.tokenIntrospection(config, refreshed.access_token)).active, false);
    // Presenting the code again revokes the first access token.
    const res = await fetch(`${server.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code', code: cb.searchParams.get('code'), redirect_uri: REDIRECT,
        client_id: s.clientId, client_secret: s.clientSecret,
      }),
    });
    assert.equal((await res.json()).error, 'invalid_grant');
    assert.equal((await userinfo(tokens.access_token)).status, 401);
  });

  test('protocol details: jwks type, bearer challenges, repeated parameters, max_age', async () => {
    const jw = await fetch(`${server.issuer}/jwks`);
    assert.equal(jw.headers.get('content-type'), 'application/jwk-set+json', 'one content type');
    // RFC 6750 3: no token, a malformed one, a wrong one.
    let res = await fetch(`${server.issuer}/userinfo`);
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="authflow"');
    assert.doesNotMatch(await res.text(), /error/, 'no error code without a token, in the body either');
    res = await fetch(`${server.issuer}/userinfo`, { headers: { authorization: 'Bearer a b' } });
    assert.equal(res.status, 400);
    assert.match(res.headers.get('www-authenticate'), /error="invalid_request"/);
    res = await userinfo(`${'A'.repeat(22)}.${'B'.repeat(32)}`);
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate'), /^Bearer realm="authflow", error="invalid_token"$/);
    // Longer than any token issued: as invalid, in the header or the body.
    res = await userinfo('x'.repeat(9000));
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate'), /^Bearer realm="authflow", error="invalid_token"$/);
    res = await fetch(`${server.issuer}/userinfo`, { method: 'POST', body: new URLSearchParams({ access_token: 'x'.repeat(9000) }) });
    assert.equal(res.status, 401);
    assert.equal((await res.json()).error, 'invalid_token');
    // Credentials of another scheme are no bearer token: the bare challenge.
    res = await fetch(`${server.issuer}/userinfo`, { headers: { authorization: 'Basic Zm9vOmJhcg==' } });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="authflow"');
    // A repeated parameter goes back to a valid client as invalid_request;
    // a repeated redirect URI is not trusted.
    const s = await seed(server, { user: 'ivy' });
    // RFC 9110 11.4: one or more spaces after the scheme; the client is
    // known, and only the code is wrong.
    const spaced = await fetch(`${server.issuer}/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'authorization_code', code: 'x', redirect_uri: REDIRECT }),
      headers: { authorization: `Basic   ${Buffer.from(`${s.clientId}:${s.clientSecret}`).toString('base64')}` },
    });
    assert.equal(spaced.status, 400);
    assert.equal((await spaced.json()).error, 'invalid_grant');
    const b = new Browser();
    const base = `${server.issuer}/authorize?response_type=code&scope=openid&client_id=${s.clientId}`;
    const to = `redirect_uri=${encodeURIComponent(REDIRECT)}`;
    let r = await b.get(`${base}&${to}&state=a&state=b`);
    assert.equal(r.status, 302);
    const err = new URL(r.location);
    assert.equal(`${err.origin}${err.pathname}`, REDIRECT);
    assert.equal(err.searchParams.get('error'), 'invalid_request');
    assert.equal(err.searchParams.get('iss'), server.issuer);
    r = await b.get(`${base}&${to}&${to}&state=a`);
    assert.equal(r.status, 400);
    assert.equal(r.location, null);
    // A state or nonce that is not UTF-8 is refused, never dropped.
    for (const bad of ['state=a%FFb', 'state=a&nonce=n%C0%AF']) {
      r = await b.get(`${base}&${to}&${bad}`);
      assert.equal(r.status, 302, bad);
      assert.equal(new URL(r.location).searchParams.get('error'), 'invalid_request', bad);
    }
    r = await b.get(`${base.replace('scope=openid', `scope=openid${'%20x'.repeat(600)}`)}&${to}`);
    assert.equal(new URL(r.location).searchParams.get('error_description'), 'scope too long');
    // RFC 6749 3.1: a parameter without a value is as if omitted, and
    // parameters we do not know are ignored, however often they come.
    for (const q of ['max_age=', 'response_mode=', 'request=', 'request_uri=', 'id_token_hint=', 'code_challenge=',
      'code_challenge_method=', 'prompt=', 'foo=1&foo=2', 'resource=https%3A%2F%2Fa&resource=https%3A%2F%2Fb',
      'max_age=2147483647', 'max_age=99999999999999999999999']) {
      r = await b.get(`${base}&${to}&state=a&${q}`);
      assert.ok(isLoginForm(r), `${q}: ${r.status} ${r.location}`);
    }
    // max_age=1, a second after the sign-in: a fresh sign-in.
    const { config, browser } = await fullSignIn(s);
    await new Promise((ok) => setTimeout(ok, 1100));
    const o = await openAuthorize(browser, server.issuer, (await authUrl(config, { max_age: '1' })).url.href);
    assert.ok(o.loginPage, 'max_age passed: login page');
    const o2 = await openAuthorize(browser, server.issuer, (await authUrl(config, { max_age: '3600' })).url.href);
    assert.equal(o2.answer?.status, 302, 'max_age not passed: no login page');
  });

  test('refresh: a narrower scope for one refresh; revoking a refresh token revokes its access tokens', async () => {
    const s = await seed(server, { user: 'jack' });
    const { config, tokens } = await fullSignIn(s);
    const narrow = await client.refreshTokenGrant(config, tokens.refresh_token, { scope: 'openid profile' });
    assert.equal(narrow.scope, 'openid profile');
    assert.equal(narrow.claims().email, undefined, 'no email claim in the narrower id_token');
    assert.equal(narrow.claims().preferred_username, 'jack');
    const ui = await (await userinfo(narrow.access_token)).json();
    assert.equal(ui.email, undefined);
    assert.equal(ui.preferred_username, 'jack');
    // Refusals that leave the refresh token as it was: a scope without
    // openid, another client.
    await assert.rejects(client.refreshTokenGrant(config, narrow.refresh_token, { scope: 'profile' }), isError('invalid_scope'));
    const other = await seed(server, { user: 'jack-other' });
    // Said as of an unknown token: another client learns nothing of it.
    const said = 'the refresh token is invalid or used';
    await assert.rejects(client.refreshTokenGrant(await rp(other), narrow.refresh_token),
      (e) => isError('invalid_grant')(e) && (e.error_description ?? e.cause?.error_description) === said);
    // A client whose refresh the administrator turned off: the grant is
    // not for it (unauthorized_client), and the token keeps until it is
    // turned on again.
    assert.equal((await server.admin('PATCH', `/apps/${s.clientId}`, { allow_refresh: false })).status, 200);
    await assert.rejects(client.refreshTokenGrant(config, narrow.refresh_token), isError('unauthorized_client'));
    assert.equal((await server.admin('PATCH', `/apps/${s.clientId}`, { allow_refresh: true })).status, 200);
    const full = await client.refreshTokenGrant(config, narrow.refresh_token);
    assert.equal(full.scope, 'openid profile email groups offline_access', 'the refresh token kept the whole scope');
    assert.equal(full.claims().email, 'jack@example.com');
    for (const t of [tokens.access_token, narrow.access_token, full.access_token]) {
      assert.equal((await userinfo(t)).status, 200);
    }
    await client.tokenRevocation(config, full.refresh_token, { token_type_hint: 'refresh_token' });
    await assert.rejects(client.refreshTokenGrant(config, full.refresh_token), isError('invalid_grant'));
    for (const t of [tokens.access_token, narrow.access_token, full.access_token]) {
      assert.equal((await userinfo(t)).status, 401, 'revoked with the refresh token');
    }
    // Reuse of a rotated-out refresh token takes the access tokens along.
    const third = await fullSignIn(s);
    const next = await client.refreshTokenGrant(config, third.tokens.refresh_token);
    await assert.rejects(client.refreshTokenGrant(config, third.tokens.refresh_token), isError('invalid_grant'));
    assert.equal((await userinfo(next.access_token)).status, 401, 'reuse revoked the current access token');
  });

  test('refresh grace period: workers refreshing with one token at once all get tokens; without one the grant ends', async () => {
    const s = await seed(server, { user: 'rowan' });
    const { config, tokens } = await fullSignIn(s);
    // No grace period (the default): the second of two at once looks
    // like a stolen token, and the grant ends.
    const strict = await Promise.allSettled([1, 2].map(() => client.refreshTokenGrant(config, tokens.refresh_token)));
    assert.ok(strict.some((r) => r.status === 'rejected'), 'one of two refreshes at once is refused');
    for (const r of strict.filter((x) => x.status === 'fulfilled')) {
      await assert.rejects(client.refreshTokenGrant(config, r.value.refresh_token), isError('invalid_grant'));
    }
    let res = await server.admin('PATCH', `/apps/${s.clientId}`, { refresh_grace_seconds: 61 });
    assert.equal(res.status, 400);
    assert.match(res.json.message, /refresh_grace_seconds/);
    res = await server.admin('PATCH', `/apps/${s.clientId}`, { refresh_grace_seconds: 30 });
    assert.equal(res.status, 200);
    assert.equal(res.json.refresh_grace_seconds, 30);
    // Twenty workers with the same token at once: each gets tokens, and
    // each one's new refresh token refreshes in turn.
    const first = (await fullSignIn(s)).tokens;
    const five = await Promise.all(Array.from({ length: 20 }, () => client.refreshTokenGrant(config, first.refresh_token)));
    assert.equal(new Set(five.map((t) => t.refresh_token)).size, 20, 'twenty rotations');
    for (const t of five) {
      assert.equal((await userinfo(t.access_token)).status, 200);
    }
    const again = await Promise.all(five.map((t) => client.refreshTokenGrant(config, t.refresh_token)));
    const last = again[again.length - 1];
    assert.equal((await userinfo(last.access_token)).status, 200);
    // Another client with this grant's selector and a made-up secret:
    // refused as unknown, and the grant is left alone.
    const other = await seed(server, { user: 'rowan-other' });
    const forged = `${last.refresh_token.split('.')[0]}.${'A'.repeat(32)}`;
    await assert.rejects(client.refreshTokenGrant(await rp(other), forged), isError('invalid_grant'));
    assert.equal((await userinfo(last.access_token)).status, 200, 'the grant stands');
    // Past the period, a rotated-out token ends the grant as before.
    assert.equal((await server.admin('PATCH', `/apps/${s.clientId}`, { refresh_grace_seconds: 1 })).status, 200);
    const current = await client.refreshTokenGrant(config, last.refresh_token);
    await new Promise((ok) => setTimeout(ok, 2100));
    await assert.rejects(client.refreshTokenGrant(config, last.refresh_token), isError('invalid_grant'));
    await assert.rejects(client.refreshTokenGrant(config, current.refresh_token), isError('invalid_grant'),
      'the reuse past the grace period revoked the current token');
    assert.equal((await userinfo(current.access_token)).status, 401);
    // The reuse is an audit event by the client, and a token log line
    // with the user, the client and the request id.
    const ev = (await server.admin('GET', '/audit?limit=50')).json.events
      .find((e) => e.action === 'token.refresh_reuse' && e.target === 'rowan');
    assert.ok(ev, 'an audit event for the reuse');
    assert.equal(ev.actor, `client:${s.clientId}`);
    assert.equal(ev.detail.client_id, s.clientId);
    assert.equal(ev.ip, '127.0.0.1');
    assert.ok(ev.request_id);
    const lines = server.stderr().split('\n').filter((l) => l.includes('"event":"token"')).map((l) => JSON.parse(l));
    const reuse = lines.find((l) => l.rid === ev.request_id);
    assert.equal(reuse?.outcome, 'reused_refresh_token_family_revoked');
    assert.equal(reuse.user, 'rowan');
    assert.equal(reuse.client, s.clientId);
    // The session's sid joins the token lines to the sign-in's code.
    const sid = JSON.parse(Buffer.from(first.id_token.split('.')[1], 'base64url')).sid;
    assert.ok(sid);
    assert.equal(reuse.sid, sid);
    assert.equal(reuse.ip, '127.0.0.1');
    assert.ok(lines.some((l) => l.outcome === 'ok_within_grace' && l.user === 'rowan'));
    assert.ok(lines.some((l) => l.outcome === 'unknown_or_used_refresh_token' && l.client === s.clientId));
    assert.ok(lines.some((l) => l.outcome === 'refresh_token_of_another_client' && l.client === other.clientId));
  });

  test('scope: only supported scopes are granted, alike in the token answer, a refresh and userinfo', async () => {
    const s = await seed(server, { user: 'sam', app: { access_token_format: 'jwt' } });
    const { config, tokens } = await fullSignIn(s, new Browser(), { scope: 'openid bogusscope profile offline_access openid phone' });
    assert.equal(tokens.scope, 'openid profile offline_access');
    const at = (t) => JSON.parse(Buffer.from(t.access_token.split('.')[1], 'base64url').toString());
    assert.equal(at(tokens).scope, 'openid profile offline_access', 'the JWT access token says the same');
    const ui = await (await userinfo(tokens.access_token)).json();
    assert.equal(ui.preferred_username, 'sam');
    assert.equal(ui.email, undefined);
    const again = await client.refreshTokenGrant(config, tokens.refresh_token);
    assert.equal(again.scope, 'openid profile offline_access');
    // Unknown scopes in a refresh are ignored too, never an error; a
    // supported one that was not granted is refused and leaves the refresh
    // token as it was.
    const narrow = await client.refreshTokenGrant(config, again.refresh_token, { scope: 'openid bogusscope' });
    assert.equal(narrow.scope, 'openid');
    assert.equal(at(narrow).scope, 'openid');
    assert.equal(narrow.claims().preferred_username, undefined);
    await assert.rejects(client.refreshTokenGrant(config, narrow.refresh_token, { scope: 'openid email' }), isError('invalid_scope'));
    const full = await client.refreshTokenGrant(config, narrow.refresh_token);
    assert.equal(full.scope, 'openid profile offline_access', 'the refresh token kept the granted scope');
  });

  test('authorize: every error redirect carries the state as sent, in both response modes', async () => {
    const s = await seed(server, { user: 'stella' });
    const b = new Browser();
    const base = `${server.issuer}/authorize?client_id=${s.clientId}&redirect_uri=${encodeURIComponent(REDIRECT)}`;
    const good = 'response_type=code&scope=openid';
    const answer = async (url, mode) => {
      const r = await b.get(mode === 'form_post' ? `${url}&response_mode=form_post` : url);
      if (mode === 'form_post') {
        assert.equal(r.status, 200, url);
        return hiddenFields(r.text);
      }
      assert.equal(r.status, 302, url);
      const u = new URL(r.location);
      assert.equal(`${u.origin}${u.pathname}`, REDIRECT, url);
      return Object.fromEntries(u.searchParams);
    };
    // RFC 6749 4.1.2.1: a state refused for its length still comes back,
    // exactly as sent.
    const long = `${'s~t a/t&e'.repeat(300)}!`;
    for (const mode of ['query', 'form_post']) {
      const f = await answer(`${base}&${good}&state=${encodeURIComponent(long)}`, mode);
      assert.equal(f.error, 'invalid_request', mode);
      assert.equal(f.error_description, 'state too long', mode);
      assert.equal(f.state, long, mode);
      assert.equal(f.iss, server.issuer, mode);
    }
    const r = await b.get(`${base}&${good}&state=a%FFb`);
    assert.equal(new URL(r.location).searchParams.get('error_description'), 'state must be UTF-8 text');
    assert.match(r.location, /[?&]state=a%FFb(&|$)/, 'a state that is not UTF-8 comes back byte for byte');
    // Every other refusal of a known client and redirect URI.
    const state = 'st/ate 1?&="<x>';
    const cases = [
      [`${good}&scope=openid`, 'invalid_request', 'a parameter was given more than once'],
      [`${good}&request=x`, 'request_not_supported', 'request objects are not supported'],
      [`${good}&request_uri=x`, 'request_uri_not_supported', 'request_uri is not supported'],
      ['scope=openid', 'invalid_request', 'response_type is required'],
      [`response_type=code&scope=openid${'%20x'.repeat(600)}`, 'invalid_scope', 'scope too long'],
      ['response_type=code&scope=profile', 'invalid_scope', 'scope must include openid'],
      [`${good}&code_challenge_method=S256`, 'invalid_request', 'code_challenge_method without code_challenge'],
      [`${good}&code_challenge=${'a'.repeat(43)}&code_challenge_method=plain`, 'invalid_request', 'code_challenge_method must be S256'],
      [`${good}&code_challenge=${'a'.repeat(42)}&code_challenge_method=S256`, 'invalid_request', 'malformed code_challenge'],
      [`${good}&nonce=${'n'.repeat(513)}`, 'invalid_request', 'nonce too long'],
      [`${good}&acr_values=${'a'.repeat(1025)}`, 'invalid_request', 'acr_values too long'],
      [`${good}&prompt=${'login%20'.repeat(10)}login`, 'invalid_request', 'prompt too long'],
      [`${good}&prompt=none%20login`, 'invalid_request', 'prompt=none cannot be combined'],
      [`${good}&max_age=soon`, 'invalid_request', 'max_age must be a number of seconds'],
      [`${good}&nonce=n%C0%AF`, 'invalid_request', 'parameters must be UTF-8 text'],
      [`${good}&id_token_hint=abc`, 'invalid_request', 'id_token_hint is not valid'],
      [`${good}&prompt=none`, 'login_required', 'no usable session'],
    ];
    for (const mode of ['query', 'form_post']) {
      for (const [q, error, desc] of cases) {
        const f = await answer(`${base}&${q}&state=${encodeURIComponent(state)}`, mode);
        assert.equal(f.error, error, `${mode} ${q}`);
        assert.equal(f.error_description, desc, `${mode} ${q}`);
        assert.equal(f.state, state, `${mode} ${q}`);
      }
    }
    const f = await answer(`${base}&${good}&response_mode=fragment&state=${encodeURIComponent(state)}`, 'query');
    assert.equal(f.error_description, 'response_mode must be query or form_post');
    assert.equal(f.state, state);
    // A request of an implicit or hybrid kind is refused in the fragment,
    // its default response mode (OAuth 2.0 Multiple Response Types 5),
    // where the application that sent it reads its answer; with
    // form_post, as asked.
    for (const rt of ['token', 'id_token', 'id_token token', 'code id_token', 'code token']) {
      const q = `response_type=${encodeURIComponent(rt)}&scope=openid&state=${encodeURIComponent(state)}`;
      const r = await b.get(`${base}&${q}`);
      assert.equal(r.status, 302, rt);
      const u = new URL(r.location);
      assert.equal(`${u.origin}${u.pathname}`, REDIRECT, rt);
      assert.equal(u.search, '', `${rt}: nothing in the query`);
      const frag = Object.fromEntries(new URLSearchParams(u.hash.slice(1)));
      assert.deepEqual(frag, {
        error: 'unsupported_response_type', error_description: 'only the code flow is supported', state, iss: server.issuer,
      }, rt);
      const fp = await answer(`${base}&${q}`, 'form_post');
      assert.equal(fp.error, 'unsupported_response_type', rt);
      assert.equal(fp.state, state, rt);
    }
  });

  test('authorize: prompt is capped at 64 bytes like the other parameters a sign-in keeps; its values are case-sensitive', async () => {
    const s = await seed(server, { user: 'pia' });
    const base = `${server.issuer}/authorize?response_type=code&scope=openid&state=x&client_id=${s.clientId}&redirect_uri=${encodeURIComponent(REDIRECT)}`;
    const b = new Browser();
    let r = await b.get(`${base}&prompt=${'login%20'.repeat(10)}login`);
    let u = new URL(r.location, server.issuer);
    assert.equal(u.searchParams.get('error_description'), 'prompt too long', r.location);
    assert.equal(u.searchParams.get('error'), 'invalid_request');
    assert.equal(u.searchParams.get('state'), 'x');
    // 64 bytes: a sign-in.
    r = await b.get(`${base}&prompt=${'login%20'.repeat(7)}select_account%20consent`);
    assert.ok(isLoginForm(r), `${r.status} ${r.location}`);
    // Values are case-sensitive: "LOGIN" would be a sign-in asked for and
    // silently not made, so it is refused; a value not understood at all
    // (an extension's) is ignored, as OpenID Connect Core's errata advise.
    for (const p of ['LOGIN', 'consent%20Login', 'None']) {
      r = await b.get(`${base}&prompt=${p}`);
      u = new URL(r.location, server.issuer);
      assert.equal(u.searchParams.get('error'), 'invalid_request', `${p}: ${r.location}`);
      assert.equal(u.searchParams.get('error_description'), 'prompt values are lower case (none, login, consent, select_account)');
    }
    r = await b.get(`${base}&prompt=create`);
    assert.ok(isLoginForm(r), `${r.status} ${r.location}`);
  });

  test('token: a missing redirect_uri is invalid_request and leaves the code; another one is invalid_grant', async () => {
    const s = await seed(server, { user: 'rita' });
    const config = await rp(s);
    const b = new Browser();
    const tok = (form) => fetch(`${server.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: s.clientId, client_secret: s.clientSecret, ...form }),
    });
    const a = await authUrl(config);
    let r = await signIn(b, server.issuer, a.url.href, s.user, s.password);
    const code = new URL(r.location).searchParams.get('code');
    let res = await tok({ grant_type: 'authorization_code', code, code_verifier: a.verifier });
    assert.equal(res.status, 400);
    assert.equal((await res.json()).error, 'invalid_request');
    res = await tok({ grant_type: 'authorization_code', code, code_verifier: a.verifier, redirect_uri: REDIRECT });
    assert.equal(res.status, 200, 'the code was left for a well-formed request');
    const a2 = await authUrl(config);
    r = await signIn(b, server.issuer, a2.url.href, s.user, s.password);
    res = await tok({
      grant_type: 'authorization_code', code: new URL(r.location).searchParams.get('code'),
      code_verifier: a2.verifier, redirect_uri: `${REDIRECT}/other`,
    });
    assert.equal(res.status, 400);
    // Said as for any bad code: nothing about whose code it is.
    assert.deepEqual(await res.json(), { error: 'invalid_grant', error_description: 'the code is invalid, expired or used' });
  });

  test('races: members added while their group is removed are not left in it', async () => {
    const users = [];
    for (let i = 0; i < 8; i++) {
      const u = `gm-${i}`;
      const r = await server.admin('POST', '/users', { username: u, password: 'a-long-password-1' });
      assert.equal(r.status, 201, r.text);
      users.push(u);
    }
    for (let trial = 0; trial < 12; trial++) {
      assert.equal((await server.admin('POST', '/groups', { name: 'gq' })).status, 201);
      await Promise.all([
        ...users.map((u) => server.admin('PUT', `/groups/gq/members/${u}`)),
        server.admin('DELETE', '/groups/gq'),
      ]);
      for (const u of users) {
        const got = await server.admin('GET', `/users/${u}`);
        assert.ok(!(got.json.groups ?? []).includes('gq'), `trial ${trial}: ${u} still lists the removed group`);
      }
      // A new group of the same name starts empty.
      assert.equal((await server.admin('POST', '/groups', { name: 'gq' })).status, 201);
      assert.deepEqual((await server.admin('GET', '/groups/gq')).json.members, [], `trial ${trial}`);
      assert.equal((await server.admin('DELETE', '/groups/gq')).status, 200);
    }
  });

  test('races: a revocation during a refresh, a code replayed during its redemption', async () => {
    const s = await seed(server, { user: 'quincy' });
    const config = await rp(s);
    const basic = `Basic ${Buffer.from(`${s.clientId}:${s.clientSecret}`).toString('base64')}`;
    const post = (p, form) => fetch(`${server.issuer}${p}`, {
      method: 'POST', body: new URLSearchParams(form),
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
    });
    for (let round = 0; round < 8; round++) {
      const { tokens } = await fullSignIn(s);
      const rt = tokens.refresh_token;
      const [ref, rev] = await Promise.all([
        post('/token', { grant_type: 'refresh_token', refresh_token: rt }),
        post('/revoke', { token: rt, token_type_hint: 'refresh_token' }),
      ]);
      assert.equal(rev.status, 200);
      if (ref.status !== 200) continue;
      const t = await ref.json();
      assert.equal((await userinfo(t.access_token)).status, 401, `round ${round}: the refresh outlived the revocation`);
      assert.equal((await post('/token', { grant_type: 'refresh_token', refresh_token: t.refresh_token })).status, 400);
    }
    for (let round = 0; round < 8; round++) {
      const a = await authUrl(config);
      const r = await signIn(new Browser(), server.issuer, a.url.href, s.user, s.password);
      const code = new URL(r.location).searchParams.get('code');
      const form = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: a.verifier };
      const answers = await Promise.all([post('/token', form), post('/token', form)]);
      // The replay revokes what the code gave: the first redemption
      // either answers before it (and its tokens are revoked) or fails.
      const won = answers.filter((x) => x.status === 200);
      assert.ok(won.length <= 1, `round ${round}: ${answers.map((x) => x.status)}`);
      assert.ok(answers.every((x) => x.status === 200 || x.status === 400));
      if (won.length === 0) continue;
      const t = await won[0].json();
      assert.equal((await userinfo(t.access_token)).status, 401, `round ${round}: a replayed code left its access token`);
      assert.equal((await post('/token', { grant_type: 'refresh_token', refresh_token: t.refresh_token })).status, 400);
    }
  });

  test('RP-initiated logout: asks unless the hint comes from this session', async () => {
    const s = await seed(server, { user: 'kim' });
    // No parameters: a question, and the session stays until the answer.
    const first = await fullSignIn(s);
    let r = await first.browser.get(`${server.issuer}/logout`);
    assert.equal(r.status, 200);
    assert.match(r.text, /Sign out\?/);
    const ask = hiddenFields(r.text);
    assert.ok(ask.confirm);
    assert.ok(await signedIn(first.browser, first.config), 'asking ended nothing');
    // The answer counts only in the browser session it was shown to.
    r = await new Browser().post(`${server.issuer}/logout`, { confirm: ask.confirm });
    assert.equal(r.status, 200, 'another browser has no session to end');
    assert.ok(await signedIn(first.browser, first.config));
    r = await first.browser.get(`${server.issuer}/logout?client_id=${s.clientId}&post_logout_redirect_uri=${encodeURIComponent('http://127.0.0.1:9000/signed-out')}&state=s1`);
    assert.match(r.headers.get('content-security-policy'), /form-action 'self' http:\/\/127\.0\.0\.1:9000;/,
      'the answer may send the browser on to the application');
    const ask2 = hiddenFields(r.text);
    // Another site's POST carries no session cookie (SameSite=Lax): it
    // must not clear the cookie either.
    r = await fetch(`${server.issuer}/logout`, { method: 'POST', redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' });
    assert.ok(!setCookies(r.headers).some((c) => c.startsWith('af_sso=')), 'no cookie cleared');
    r = await first.browser.post(`${server.issuer}/logout`, { confirm: ask.confirm });
    assert.equal(r.status, 400, 'a used or stale answer is refused');
    assert.ok(await signedIn(first.browser, first.config));
    r = await first.browser.post(`${server.issuer}/logout`, { confirm: ask2.confirm });
    assert.equal(r.status, 302);
    assert.equal(r.location, 'http://127.0.0.1:9000/signed-out?state=s1');
    assert.ok(!(await signedIn(first.browser, first.config)), 'signed out');
    // The log (warnings and worse here) says whose session the stale
    // answer was about.
    const stale = server.stderr().split('\n').filter((l) => l.includes('"event":"logout"') && l.includes('"user":"kim"')).map((l) => JSON.parse(l));
    assert.deepEqual(stale.map((l) => l.outcome), ['stale_confirmation'], JSON.stringify(stale));
    assert.match(stale[0].sid, /^[A-Za-z0-9_-]{22}$/);
    // A hint from an earlier session: asked, then sent back.
    const again = await fullSignIn(s, first.browser);
    const end = (hint) => client.buildEndSessionUrl(first.config, {
      id_token_hint: hint, post_logout_redirect_uri: 'http://127.0.0.1:9000/signed-out', state: 'bye',
    }).href;
    r = await first.browser.get(end(first.tokens.id_token));
    assert.equal(r.status, 200);
    assert.ok(await signedIn(first.browser, first.config));
    r = await first.browser.post(`${server.issuer}/logout`, hiddenFields(r.text));
    assert.equal(r.location, 'http://127.0.0.1:9000/signed-out?state=bye');
    // A forged hint: asked, and never sent back.
    const again2 = await fullSignIn(s, first.browser);
    const [h, p] = again2.tokens.id_token.split('.');
    r = await first.browser.get(end(`${h}.${p}.${'A'.repeat(342)}`));
    assert.equal(r.status, 200);
    assert.match(r.text, /could not be verified/);
    r = await first.browser.post(`${server.issuer}/logout`, hiddenFields(r.text));
    assert.equal(r.status, 200);
    assert.equal(r.location, null);
    assert.ok(!(await signedIn(first.browser, first.config)));
    // No session at all: nothing to ask, straight back to the app.
    r = await new Browser().get(end(again.tokens.id_token));
    assert.equal(r.location, 'http://127.0.0.1:9000/signed-out?state=bye');
  });

  test('a sign-out or sign-in POSTed from the application\'s site: the session cookie stays behind (SameSite=Lax), so the server posts it back to itself and then sees the session', async () => {
    const s = await seed(server, { user: 'kurt' });
    // What a browser sends on a cross-site POST: no cookie.
    const crossSite = async (p, form) => {
      const r = await fetch(`${server.issuer}${p}`, { method: 'POST', redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form).toString() });
      return { status: r.status, text: await r.text(), headers: r.headers };
    };
    // The form's answer redirects to the application, which browsers hold
    // to the page's form-action: its origin is allowed when registered.
    const formAction = (page) => /form-action ([^;]*)/.exec(page.headers.get('content-security-policy'))[1];
    const hop = (page, action, dest = "'self' http://127.0.0.1:9000") => {
      assert.equal(page.status, 200, page.text);
      assert.ok(!setCookies(page.headers).some((c) => c.startsWith('af_sso=')), 'no cookie touched');
      assert.match(page.text, new RegExp(`<form method="post" id="fp" action="${action}">`));
      assert.match(page.text, /<script src="\/static\/formpost\.js"><\/script>/);
      assert.equal(formAction(page), dest);
      const f = hiddenFields(page.text);
      assert.equal(f.same_site, '1');
      return f;
    };
    const first = await fullSignIn(s);
    // prompt=none by POST: the session is found once the form comes back.
    const a = await authUrl(first.config, { prompt: 'none' });
    const form = Object.fromEntries(a.url.searchParams);
    // HEAD reads the query as GET does (RFC 9110 9.3.2).
    const [head, get] = await Promise.all(['HEAD', 'GET'].map((method) => fetch(a.url, { method, redirect: 'manual' })));
    assert.equal(head.status, 302);
    assert.equal(new URL(head.headers.get('location')).searchParams.get('error'), 'login_required');
    assert.equal(head.headers.get('location'), get.headers.get('location'));
    let f = hop(await crossSite('/authorize', form), '/authorize');
    assert.equal(f.state, a.state);
    assert.equal(f.code_challenge, form.code_challenge);
    let r = await first.browser.post(`${server.issuer}/authorize`, f);
    assert.equal(r.status, 302);
    assert.ok(new URL(r.location).searchParams.get('code'), r.location);
    // A browser with no session at all: login_required after the hop.
    r = await new Browser().post(`${server.issuer}/authorize`, f);
    assert.equal(new URL(r.location).searchParams.get('error'), 'login_required');
    // Only same_site=1 marks a request as hopped already.
    for (const v of ['', '0', '1x']) hop(await crossSite('/authorize', { ...form, same_site: v }), '/authorize');

    // Sign-out by POST with this session's hint: ended, then back.
    const out = { id_token_hint: first.tokens.id_token, post_logout_redirect_uri: 'http://127.0.0.1:9000/signed-out', state: 'lp' };
    // An address not registered (or without a hint) allows no other origin.
    hop(await crossSite('/logout', { ...out, post_logout_redirect_uri: 'http://127.0.0.2:9000/x' }), '/logout', "'self'");
    hop(await crossSite('/logout', { post_logout_redirect_uri: out.post_logout_redirect_uri }), '/logout', "'self'");
    f = hop(await crossSite('/logout', out), '/logout');
    assert.ok(await signedIn(first.browser, first.config), 'the hop ended nothing');
    r = await first.browser.post(`${server.issuer}/logout`, f);
    assert.equal(r.status, 302);
    assert.equal(r.location, 'http://127.0.0.1:9000/signed-out?state=lp');
    assert.ok(!(await signedIn(first.browser, first.config)), 'signed out');

    // A hint with another client_id: invalid, so asked, not ended.
    const other = await seed(server, { user: 'kurt2' });
    const second = await fullSignIn(s, first.browser);
    r = await first.browser.get(`${server.issuer}/logout?id_token_hint=${second.tokens.id_token}&client_id=${other.clientId}`);
    assert.equal(r.status, 200);
    assert.match(r.text, /Sign out\?/);
    assert.ok(await signedIn(first.browser, first.config), 'a mismatched client_id ends nothing');
  });

  test('audit: a large detail reaches the log whole, in parts, also when the trail keeps it shortened', async () => {
    const lines = () => server.stderr().split('\n').filter((l) => l.includes('"event":"audit"')).map((l) => JSON.parse(l));
    for (const [name, n, len] of [['audit-mid', 3, 1500], ['audit-big', 20, 2000]]) {
      const uris = Array.from({ length: n }, (_, i) => `https://rp.example/${i}${'x'.repeat(len)}`);
      const r = await server.admin('POST', '/apps', { name, redirect_uris: uris });
      assert.equal(r.status, 201, r.text);
      await new Promise((res) => setTimeout(res, 100));
      const mine = lines().filter((l) => l.action === 'app.add' && l.target === r.json.client_id);
      assert.ok(mine.length > 1, `in parts: ${mine.length}`);
      assert.ok(mine.every((l) => l.seq === mine[0].seq && l.detail === undefined));
      assert.deepEqual(mine.map((l) => l.detail_part), mine.map((_, i) => `${i + 1}/${mine.length}`));
      const text = mine.map((l) => l.detail_chunk).join('');
      assert.equal(Buffer.byteLength(text), Number(mine[0].detail_bytes));
      assert.equal(createHash('sha256').update(text).digest('hex'), mine[0].detail_sha256);
      assert.deepEqual(JSON.parse(text).redirect_uris, uris, 'every URI, whole');
      // The trail itself keeps a large one shortened, as it says.
      const ev = (await server.admin('GET', '/audit?limit=20')).json.events.find((e) => e.target === r.json.client_id);
      assert.equal(ev.detail.shortened === true, n === 20);
    }
  });

  test('audit: each event says where the request came from and its request id, in the trail and the log', async () => {
    const r = await fetch(`${server.issuer}/admin/v1/groups`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.superToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'origin-group' }),
    });
    assert.equal(r.status, 201);
    const rid = r.headers.get('x-request-id');
    assert.ok(rid);
    const ev = (await server.admin('GET', '/audit?limit=20')).json.events.find((e) => e.target === 'origin-group');
    assert.equal(ev.action, 'group.add');
    assert.equal(ev.ip, '127.0.0.1');
    assert.equal(ev.request_id, rid);
    await new Promise((res) => setTimeout(res, 100));
    const line = server.stderr().split('\n').filter((l) => l.includes('"event":"audit"')).map((l) => JSON.parse(l))
      .find((l) => Number(l.seq) === ev.seq);
    assert.equal(line.ip, '127.0.0.1');
    assert.equal(line.rid, rid, 'as the request\'s other log lines name it');
  });

  test('request ids: every answer has its own, one process\'s share their prefix, another process\'s differs', async () => {
    const ids = [];
    for (let i = 0; i < 20; i++) {
      const r = await fetch(`${server.issuer}/healthz`);
      await r.arrayBuffer();
      ids.push(r.headers.get('x-request-id'));
    }
    for (const id of ids) assert.match(id, /^[A-Za-z0-9_-]{16}$/);
    assert.equal(new Set(ids).size, ids.length, 'no id twice');
    assert.equal(new Set(ids.map((id) => id.slice(0, 8))).size, 1);
    const other = await startServer();
    try {
      const r = await fetch(`${other.issuer}/healthz`);
      await r.arrayBuffer();
      const id = r.headers.get('x-request-id');
      assert.match(id, /^[A-Za-z0-9_-]{16}$/);
      assert.notEqual(id.slice(0, 8), ids[0].slice(0, 8));
    } finally {
      await other.stop();
    }
  });

  test('CORS: metadata, keys and userinfo are readable by scripts of any origin, with a preflight; other endpoints are not', async () => {
    const s = await seed(server, { user: 'cora' });
    const { tokens } = await fullSignIn(s);
    const origin = { origin: 'https://spa.example' };
    for (const p of ['/.well-known/openid-configuration', '/jwks']) {
      const r = await fetch(`${server.issuer}${p}`, { headers: origin });
      assert.equal(r.status, 200, p);
      assert.equal(r.headers.get('access-control-allow-origin'), '*', p);
    }
    // A script sending the Authorization header asks first.
    const pre = await fetch(`${server.issuer}/userinfo`, {
      method: 'OPTIONS',
      headers: { ...origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), '*');
    assert.match(pre.headers.get('access-control-allow-headers'), /\bAuthorization\b/);
    assert.equal(pre.headers.get('access-control-allow-methods'), 'GET, HEAD, POST');
    assert.equal(pre.headers.get('access-control-allow-credentials'), null, 'never with cookies');
    assert.equal(await pre.text(), '');
    let r = await fetch(`${server.issuer}/userinfo`, { headers: { ...origin, authorization: `Bearer ${tokens.access_token}` } });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
    assert.equal((await r.json()).sub, tokens.claims().sub);
    // A refusal is readable too, with its challenge, so the script learns why.
    r = await fetch(`${server.issuer}/userinfo`, { headers: { ...origin, authorization: 'Bearer nope' } });
    assert.equal(r.status, 401);
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
    assert.match(r.headers.get('access-control-expose-headers'), /WWW-Authenticate/);
    // The token endpoint and the pages, which take secrets and cookies, are not.
    for (const [p, method] of [['/token', 'POST'], ['/authorize', 'GET'], ['/revoke', 'POST']]) {
      const o = await fetch(`${server.issuer}${p}`, {
        method: 'OPTIONS', headers: { ...origin, 'access-control-request-method': method },
      });
      assert.equal(o.status, 405, p);
      assert.equal(o.headers.get('access-control-allow-origin'), null, p);
    }
    r = await fetch(`${server.issuer}/token`, { method: 'POST', headers: origin });
    assert.equal(r.headers.get('access-control-allow-origin'), null);
  });

  test('userinfo: a token stops working once its app is disabled, undeployed or removed', async () => {
    const s = await seed(server, { user: 'lena' });
    const { tokens } = await fullSignIn(s);
    assert.equal((await userinfo(tokens.access_token)).status, 200);
    const app = `/apps/${s.clientId}`;
    assert.equal((await server.admin('PATCH', app, { enabled: false })).status, 200);
    assert.equal((await userinfo(tokens.access_token)).status, 401, 'disabled');
    assert.equal((await server.admin('PATCH', app, { enabled: true })).status, 200);
    assert.equal((await userinfo(tokens.access_token)).status, 200, 'enabled again');
    assert.equal((await server.admin('POST', `${app}/undeploy`, { all: true })).status, 200);
    assert.equal((await userinfo(tokens.access_token)).status, 401, 'undeployed');
    assert.equal((await server.admin('POST', `${app}/deploy`, { all: true })).status, 200);
    assert.equal((await userinfo(tokens.access_token)).status, 200, 'deployed again');
    assert.equal((await server.admin('DELETE', app)).status, 200);
    assert.equal((await userinfo(tokens.access_token)).status, 401, 'removed');
  });

  test('policies: no SSO policy, app not deployed', async () => {
    const s = await seed(server, { user: 'gina' });
    const u = await server.admin('POST', '/users', { username: 'henry', password: 'henry-password' });
    assert.equal(u.status, 201);
    const config = await rp(s);
    let a = await authUrl(config);
    let r = await signIn(new Browser(), server.issuer, a.url.href, 'henry', 'henry-password');
    assert.equal(r.status, 403);
    assert.match(r.text, /not enabled for single sign-on/);
    const app = await server.admin('POST', '/apps', { name: `undeployed-${Date.now()}`, redirect_uris: [REDIRECT] });
    const s2 = { ...s, clientId: app.json.client_id, clientSecret: app.json.client_secret };
    a = await authUrl(await rp(s2));
    const b = new Browser();
    r = await signIn(b, server.issuer, a.url.href, s.user, s.password);
    assert.equal(r.status, 403);
    assert.match(r.text, /not available to you/);
    assert.equal(r.location, null);
    // The page's button tells the application (RFC 6749 4.1.2.1), once.
    const back = hiddenFields(r.text);
    assert.ok(back.flow && back.csrf, 'a form back to the application');
    assert.match(r.headers.get('content-security-policy'), /form-action 'self' http:\/\/127\.0\.0\.1:9000;/);
    r = await b.post(`${server.issuer}/login`, { ...back, cancel: '1' });
    assert.equal(r.status, 302, r.text);
    const cb = new URL(r.location);
    assert.equal(`${cb.origin}${cb.pathname}`, REDIRECT);
    assert.equal(cb.searchParams.get('error'), 'access_denied');
    assert.equal(cb.searchParams.get('state'), a.state);
    assert.equal(cb.searchParams.get('iss'), server.issuer);
    r = await b.post(`${server.issuer}/login`, { ...back, cancel: '1' });
    assert.equal(r.status, 400, 'the flow has ended');
  });

  test('a new password, ended sessions and disabling end the codes and tokens signed in before', async () => {
    const s = await seed(server, { user: 'rosa' });
    // Each step ends what it finds: fresh tokens and a code not yet redeemed.
    const held = async (password) => {
      const { config, tokens, browser } = await fullSignIn({ ...s, password });
      const a = await authUrl(config, { prompt: 'login' });
      const r = await signIn(new Browser(), server.issuer, a.url.href, s.user, password);
      assert.equal(r.status, 302, r.text);
      return { config, tokens, browser, a, cb: new URL(r.location) };
    };
    // The refresh's refusal says why, as /userinfo does.
    const ended = async (h, why, said) => {
      assert.equal((await userinfo(h.tokens.access_token)).status, 401, `access token after ${why}`);
      await assert.rejects(client.refreshTokenGrant(h.config, h.tokens.refresh_token),
        (e) => isError('invalid_grant')(e) && (e.error_description ?? e.cause?.error_description) === said,
        `refresh token after ${why}`);
      await assert.rejects(client.authorizationCodeGrant(h.config, h.cb, {
        pkceCodeVerifier: h.a.verifier, expectedState: h.a.state, expectedNonce: h.a.nonce,
      }), isError('invalid_grant'), `code after ${why}`);
      const a = await authUrl(h.config, { prompt: 'none' });
      const r = await h.browser.get(a.url.href);
      assert.equal(new URL(r.location).searchParams.get('error'), 'login_required', `session after ${why}`);
    };
    let h = await held(s.password);
    const pw = await server.admin('PUT', `/users/${s.user}/password`, { password: 'rosa-new-password' });
    assert.equal(pw.status, 200, pw.text);
    await ended(h, 'a password change', "the user's sign-ins were ended");
    h = await held('rosa-new-password');
    assert.equal((await userinfo(h.tokens.access_token)).status, 200, 'the new password signs in');
    assert.equal((await server.admin('DELETE', `/sessions?user=${s.user}`)).status, 200);
    await ended(h, 'the sessions were ended', "the user's sign-ins were ended");
    h = await held('rosa-new-password');
    assert.equal((await server.admin('PATCH', `/users/${s.user}`, { enabled: false })).status, 200);
    assert.equal((await server.admin('PATCH', `/users/${s.user}`, { enabled: true })).status, 200);
    await ended(h, 'the user was disabled and enabled again', "the user's sign-ins were ended");
    const u = await server.admin('GET', `/users/${s.user}`);
    assert.equal(u.json.signin_gen, 3, u.text);
    const set = await server.admin('PATCH', `/users/${s.user}`, { signin_gen: 0 });
    assert.equal(set.status, 400, 'the generation cannot be set');
    h = await held('rosa-new-password');
    assert.equal((await server.admin('PATCH', `/users/${s.user}`, { name: 'Pia' })).status, 200);
    assert.equal((await userinfo(h.tokens.access_token)).status, 200, 'other changes end nothing');
    assert.ok((await client.refreshTokenGrant(h.config, h.tokens.refresh_token)).access_token);
  });

  test('single sign-on taken away: tokens stop; a refused user switch ends the earlier session', async () => {
    const s = await seed(server, { user: 'nell' });
    const { config, tokens, browser } = await fullSignIn(s);
    assert.ok(tokens.refresh_token);
    const policy = `/policies/sso-${s.user}`;
    assert.equal((await server.admin('PATCH', policy, { sso: false })).status, 200);
    assert.equal((await userinfo(tokens.access_token)).status, 401, 'userinfo with SSO off');
    await assert.rejects(client.refreshTokenGrant(config, tokens.refresh_token), isError('invalid_grant'));
    assert.equal((await server.admin('PATCH', policy, { sso: true })).status, 200);
    // Another user, refused by policy, signs in in nell's browser: nell's
    // session ends all the same.
    assert.equal((await server.admin('POST', '/users', { username: 'otto', password: 'otto-password' })).status, 201);
    let a = await authUrl(config, { prompt: 'login' });
    let r = await signIn(browser, server.issuer, a.url.href, 'otto', 'otto-password');
    assert.equal(r.status, 403);
    assert.match(r.text, /not enabled for single sign-on/);
    a = await authUrl(config, { prompt: 'none' });
    r = await browser.get(a.url.href);
    assert.equal(new URL(r.location).searchParams.get('error'), 'login_required', 'nell is signed out');
    // offline_access on an app without refresh tokens: not in the granted scope.
    const app = await server.admin('POST', '/apps', {
      name: `norefresh-${Date.now()}`, redirect_uris: [REDIRECT], access_token_format: 'jwt',
    });
    assert.equal((await server.admin('POST', `/apps/${app.json.client_id}/deploy`, { all: true })).status, 200);
    const s2 = { ...s, clientId: app.json.client_id, clientSecret: app.json.client_secret };
    const t = (await fullSignIn(s2)).tokens;
    assert.equal(t.refresh_token, undefined);
    assert.equal(t.scope, 'openid profile email groups');
    const at = JSON.parse(Buffer.from(t.access_token.split('.')[1], 'base64url').toString());
    assert.equal(at.scope, 'openid profile email groups', 'the JWT access token says the same');
  });

  test('a sign-in form post with a field twice is refused before anything of it is used', async () => {
    const s = await seed(server, { user: 'paula' });
    const config = await rp(s);
    const b = new Browser();
    const a = await authUrl(config);
    const o = await openAuthorize(b, server.issuer, a.url.href);
    const fields = Object.entries(o.fields);
    for (const extra of [
      [['username', s.user], ['password', 'wrong'], ['password', s.password]],
      [['username', 'nobody'], ['username', s.user], ['password', s.password]],
      [['flow', o.fields.flow], ['username', s.user], ['password', s.password]],
    ]) {
      const r = await b.post(`${server.issuer}/login`, [...fields, ...extra]);
      assert.equal(r.status, 400, r.text);
      assert.equal(r.location, null);
      assert.match(r.text, /A field of the form came more than once/);
    }
    // Nothing was checked or counted: the flow goes on, the user has no
    // failure.
    assert.equal((await server.admin('GET', `/users/${s.user}`)).json.failed_signins, 0);
    const r = await b.post(`${server.issuer}/login`, { ...o.fields, username: s.user, password: s.password });
    assert.equal(r.status, 302, r.text);
    assert.ok(new URL(r.location).searchParams.get('code'));
  });

  test('a sign-in form posted after its flow is gone starts the sign-in again, the user name kept, the request unchanged', async () => {
    const s = await seed(server, { user: 'renata' });
    const config = await rp(s);
    const a = await authUrl(config, { acr_values: 'urn:authflow:acr:pwd', max_age: '600' });
    const b = new Browser();
    const o = await openAuthorize(b, server.issuer, a.url.href);
    assert.ok(!o.answer, 'the login form');
    const restart = new URLSearchParams(o.fields.restart);
    assert.equal(restart.get('client_id'), s.clientId);
    assert.equal(restart.get('state'), a.state);
    assert.equal(restart.get('nonce'), a.nonce);
    assert.equal(restart.get('max_age'), '600');
    assert.equal(restart.get('prompt'), 'login');
    assert.equal(restart.get('restarted'), '1');
    // The flow gone (expired, finished, or never this browser's): the
    // password is not checked, the sign-in starts over.
    let r = await b.post(`${server.issuer}/login`, { ...o.fields, flow: 'A'.repeat(43), username: s.user, password: 'wrong' });
    assert.equal(r.status, 303);
    const again = new URL(r.location, server.issuer);
    assert.equal(again.pathname, '/authorize');
    // The name typed goes in a cookie, not the URL: a password typed in
    // the name field would reach the history and the proxies' logs.
    assert.equal(again.searchParams.get('login_hint'), null);
    assert.ok(!r.location.includes(s.user), r.location);
    assert.match(String(r.headers.get('set-cookie')), new RegExp(`af_typed=${s.user};`));
    assert.equal(again.searchParams.get('code_challenge'), new URL(a.url).searchParams.get('code_challenge'));
    assert.equal(again.searchParams.get('password'), null);
    const page = await b.get(again.href);
    assert.equal(page.status, 200);
    assert.match(page.text, /<title>Sign in/);
    assert.match(page.text, /The sign-in page was open too long, so it was renewed and your password was not checked\. Please sign in again\./);
    assert.match(page.text, /name="username"[^>]* value="renata"/);
    // Taken once: the same request again fills in nothing.
    assert.ok(!b.jar.has('af_typed'));
    assert.doesNotMatch((await b.get(again.href)).text, /value="renata"/);
    const fields = hiddenFields((await b.get(again.href)).text);
    assert.notEqual(fields.flow, o.fields.flow);
    r = await b.post(`${server.issuer}/login`, { ...fields, username: s.user, password: s.password });
    assert.equal(r.status, 302, r.text);
    const t = await client.authorizationCodeGrant(config, new URL(r.location), {
      pkceCodeVerifier: a.verifier, expectedState: a.state, expectedNonce: a.nonce,
    });
    assert.equal(t.claims().sub !== undefined, true);
    // Posted again once signed in (the back button): the password is
    // asked for again, whatever session the browser has, since one may
    // now fit a request it did not fit (its id_token_hint is not kept).
    r = await b.post(`${server.issuer}/login`, { ...fields, username: s.user, password: 'wrong' });
    assert.equal(r.status, 303);
    assert.equal(new URL(r.location, server.issuer).searchParams.get('prompt'), 'login');
    r = await b.get(new URL(r.location, server.issuer).href);
    assert.ok(isLoginForm(r), `${r.status} ${r.location}`);
    // A restart that leaves prompt out is given it all the same.
    const bare = new URLSearchParams(o.fields.restart);
    bare.delete('prompt');
    r = await b.post(`${server.issuer}/login`, { ...o.fields, flow: 'A'.repeat(43), restart: bare.toString() });
    assert.equal(new URL(r.location, server.issuer).searchParams.get('prompt'), 'login');
    // What it carries is checked as any request is: another application
    // gets the error page, never a redirect; a restart without one, the
    // expired page.
    const forged = new URLSearchParams(o.fields.restart);
    forged.set('client_id', 'nope');
    r = await b.post(`${server.issuer}/login`, { ...o.fields, flow: 'A'.repeat(43), restart: forged.toString() });
    r = await b.get(new URL(r.location, server.issuer).href);
    assert.equal(r.status, 400);
    assert.equal(r.location, null);
    forged.delete('client_id');
    r = await b.post(`${server.issuer}/login`, { ...o.fields, flow: 'A'.repeat(43), restart: forged.toString() });
    assert.equal(r.status, 400);
    assert.match(r.text, /This sign-in page has expired/);
    r = await b.post(`${server.issuer}/login`, { ...o.fields, flow: 'A'.repeat(43), restart: 'x'.repeat(9000) });
    assert.equal(r.status, 400);
    // A long request still leads to an address the server reads (not
    // 414); one too long to carry whole gets the expired page.
    for (const [n, want] of [[1500, 200], [2048, 400]]) {
      const big = await authUrl(config, { state: ':'.repeat(n), nonce: ':'.repeat(512), login_hint: 'a'.repeat(60) });
      const ob = await openAuthorize(new Browser(), server.issuer, big.url.href);
      r = await b.post(`${server.issuer}/login`, { ...ob.fields, flow: 'A'.repeat(43), username: 'a'.repeat(60), password: 'x' });
      if (r.status === 303) r = await b.get(new URL(r.location, server.issuer).href);
      assert.equal(r.status, want, `state of ${n}`);
    }
  });

  test('one sign-in form posted many times at once gives one code', async () => {
    const s = await seed(server, { user: 'pablo' });
    const config = await rp(s);
    for (let round = 0; round < 6; round++) {
      const a = await authUrl(config);
      const b = new Browser();
      const o = await openAuthorize(b, server.issuer, a.url.href);
      assert.ok(!o.answer, 'the login form');
      const form = { ...o.fields, username: s.user, password: s.password };
      const answers = await Promise.all(Array.from({ length: 10 }, () => b.post(`${server.issuer}/login`, form)));
      const codes = answers.filter((r) => r.status === 302 && r.location?.startsWith(REDIRECT));
      assert.equal(codes.length, 1, `round ${round}: ${answers.map((r) => r.status).join(' ')}`);
    }
  });

  test('a password signs in however its letters are composed: precomposed, with combining accents, full-width', async () => {
    const composed = 'Gr\u00fc\u00dfe aus K\u00f6ln 7';
    const s = await seed(server, { user: 'zoe-nfc', password: composed });
    const typed = [
      composed.normalize('NFD'),
      'Gr\u00fc\u00dfe aus K\u00f6ln \uff17', // a full-width seven
    ];
    for (const password of typed) {
      assert.notEqual(password, composed);
      const { tokens } = await fullSignIn(s, new Browser(), {}, password);
      assert.equal(tokens.claims().preferred_username, 'zoe-nfc');
    }
    // A different letter is still a wrong password.
    const config = await rp(s);
    const r = await signIn(new Browser(), server.issuer, (await authUrl(config)).url.href, s.user, 'Gr\u00fc\u00dfe aus Koln 7');
    assert.equal(r.status, 401);
    assert.match(r.text, /Wrong user name or password/);
  });

  test('brute force: delays after repeated failures, admin unlock clears them', async () => {
    const s = await seed(server, { user: 'ivan' });
    const config = await rp(s);
    const b = new Browser();
    const a = await authUrl(config);
    const o = await openAuthorize(b, server.issuer, a.url.href);
    let r;
    for (let i = 0; i < 5; i++) {
      r = await b.post(`${server.issuer}/login`, { ...o.fields, username: s.user, password: `wrong-${i}` });
      assert.equal(r.status, 401);
    }
    r = await b.post(`${server.issuer}/login`, { ...o.fields, username: s.user, password: s.password });
    assert.equal(r.status, 429, 'the right password must wait too');
    const un = await server.admin('POST', `/users/${s.user}/unlock`);
    assert.equal(un.status, 200, un.text);
    r = await b.post(`${server.issuer}/login`, { ...o.fields, username: s.user, password: s.password });
    assert.equal(r.status, 302, r.text);
  });

  test('brute force in parallel: no more wrong passwords are checked than the limit', async () => {
    const s = await seed(server, { user: 'ivo' });
    const config = await rp(s);
    const forms = [];
    for (let i = 0; i < 12; i++) {
      const b = new Browser();
      const o = await openAuthorize(b, server.issuer, (await authUrl(config)).url.href);
      forms.push({ b, fields: o.fields });
    }
    const answers = await Promise.all(forms.map(({ b, fields }, i) => b.post(`${server.issuer}/login`,
      { ...fields, username: s.user, password: `wrong-${i}` })));
    const checked = answers.filter((r) => r.status === 401).length;
    assert.equal(checked, 5, `wrong passwords checked: ${answers.map((r) => r.status).join(' ')}`);
    assert.ok(answers.every((r) => r.status === 401 || r.status === 429));
    const un = await server.admin('POST', `/users/${s.user}/unlock`);
    assert.equal(un.status, 200, un.text);
  });

  test('security headers and session cookie attributes', async () => {
    const s = await seed(server, { user: 'judy' });
    const config = await rp(s);
    const a = await authUrl(config);
    const b = new Browser();
    const o = await openAuthorize(b, server.issuer, a.url.href);
    const h = o.loginPage.headers;
    assert.match(h.get('content-security-policy'), /default-src 'none'/);
    assert.doesNotMatch(h.get('content-security-policy'), /unsafe-inline/);
    // Browsers hold the redirect that answers the form to form-action too:
    // the application's origin is allowed beside our own, nothing else.
    assert.match(h.get('content-security-policy'), /form-action 'self' http:\/\/127\.0\.0\.1:9000;/);
    assert.equal(h.get('x-frame-options'), 'DENY');
    assert.equal(h.get('referrer-policy'), 'no-referrer');
    // Idle connections close after the request time limit (30 s by default).
    assert.equal(h.get('keep-alive'), 'timeout=30');
    const res = await fetch(`${server.issuer}/login`, {
      method: 'POST',
      headers: { cookie: b.cookieHeader(), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...o.fields, username: s.user, password: s.password }),
      redirect: 'manual',
    });
    const sso = setCookies(res.headers).find((c) => c.startsWith('af_sso='));
    assert.ok(sso, 'session cookie set');
    assert.match(sso, /HttpOnly/);
    assert.match(sso, /SameSite=Lax/);
    assert.doesNotMatch(sso, /Expires|Max-Age/i);
  });

  test('sessions: listed with the address they began from; one can be ended alone, its tokens living on', async () => {
    const s = await seed(server, { user: 'sofia' });
    const a = await fullSignIn(s);
    const b = await fullSignIn(s);
    const list = (await server.admin('GET', '/sessions?user=sofia')).json.sessions;
    assert.equal(list.length, 2);
    assert.ok(list.every((x) => x.ip === '127.0.0.1'), JSON.stringify(list));
    assert.ok(list.every((x) => x.last_used >= x.created), JSON.stringify(list));
    // Each says when it ends unless used again: the server's 2-hour timeout.
    assert.ok(list.every((x) => x.ends_at === x.auth_time + 7201), JSON.stringify(list));
    // Each lists the application it signed into, by its admin name.
    const appName = (await server.admin('GET', `/apps/${s.clientId}`)).json.name;
    assert.ok(list.every((x) => JSON.stringify(x.apps) === JSON.stringify([appName])), JSON.stringify(list));
    const cli = ctl(server, ['sessions', 'list', 'sofia']);
    assert.match(cli.stdout, /^SID +AUTH-TIME +LAST-USED +ENDS +AMR +IP +BROWSER +APPS$/m);
    assert.ok(cli.stdout.split('\n').some((l) => / 127\.0\.0\.1 +- +(\S+)$/.exec(l)?.[1] === appName),
      `a browser that names nothing known, and the app: ${cli.stdout}`);
    // The session of browser a, by the sid its id_token carries.
    const sid = JSON.parse(Buffer.from(a.tokens.id_token.split('.')[1], 'base64url')).sid;
    const one = ctl(server, ['sessions', 'end-one', '--', 'sofia', sid]);
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, /^ended: 1$/m);
    assert.ok(!(await signedIn(a.browser, a.config)), 'browser a is signed out');
    assert.ok(await signedIn(b.browser, b.config), 'browser b is not');
    assert.equal((await userinfo(a.tokens.access_token)).status, 200, 'what it signed into lives on');
    assert.equal((await server.admin('DELETE', `/sessions?user=sofia&sid=${sid}`)).status, 404);
    const ev = (await server.admin('GET', '/audit?limit=5')).json.events.find((e) => e.action === 'sessions.end' && e.target === 'sofia');
    assert.deepEqual(ev.detail, { ended: 1, sid });
  });

  test('last sign-in: when, from where, to which app and with what, in the API and authflowctl; a single sign-on is not one', async () => {
    const s = await seed(server, { user: 'lastly' });
    assert.equal((await server.admin('GET', '/users/lastly')).json.last_sign_in, null);
    const t0 = Math.floor(Date.now() / 1000);
    const a = await fullSignIn(s);
    const t1 = Math.ceil(Date.now() / 1000);
    const shown = (await server.admin('GET', '/users/lastly')).json.last_sign_in;
    assert.equal(shown.address, '127.0.0.1');
    assert.equal(shown.client_id, s.clientId);
    assert.match(shown.app, /^rp-lastly-/);
    assert.deepEqual(shown.amr, ['pwd']);
    assert.ok(shown.time >= t0 && shown.time <= t1, `${shown.time} not in ${t0}..${t1}`);
    const listed = (await server.admin('GET', '/users')).json.users.find((u) => u.username === 'lastly');
    assert.deepEqual(listed.last_sign_in, shown);
    // A second app signed into through the session is no new sign-in.
    const other = await seed(server, { user: 'lastly-other' });
    const config2 = await rp(other);
    const r = await a.browser.get((await authUrl(config2)).url.href);
    assert.equal(r.status, 302);
    assert.ok(new URL(r.location).searchParams.get('code'), 'signed in silently');
    assert.equal((await server.admin('GET', '/users/lastly')).json.last_sign_in.client_id, s.clientId);
    // Just signed in: not among users inactive for a day.
    const inactive = await server.admin('GET', '/users?inactive_days=1');
    assert.equal(inactive.status, 200, inactive.text);
    assert.ok(!inactive.json.users.some((u) => u.username === 'lastly'));
    assert.equal((await server.admin('GET', '/users?inactive_days=0')).status, 400);
    const table = ctl(server, ['user', 'list']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^USERNAME .* LAST-SIGN-IN$/m);
    assert.match(table.stdout, /^lastly .* \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/m);
    assert.match(table.stdout, /^lastly-other .* -$/m);
    const show = ctl(server, ['user', 'show', 'lastly']);
    assert.match(show.stdout, /^last_sign_in\.address: 127\.0\.0\.1$/m);
    assert.match(show.stdout, /^last_sign_in\.time: \d{4}-\d\d-\d\dT/m);
    assert.match(show.stdout, /^last_sign_in\.amr: pwd$/m);
    const quiet = ctl(server, ['user', 'list', '--inactive-days', '1']);
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.doesNotMatch(quiet.stdout, /^lastly /m);
    assert.equal(ctl(server, ['user', 'list', '--inactive-days', '0']).code, 2);
  });

  test('a user keeps at most 64 sessions; the oldest end first', async () => {
    const s = await seed(server, { user: 'many' });
    const config = await rp(s);
    const first = new Browser();
    for (let i = 0; i < 96; i++) {
      const a = await authUrl(config);
      const r = await signIn(i === 0 ? first : new Browser(), server.issuer, a.url.href, s.user, s.password);
      assert.equal(r.status, 302, r.text);
    }
    const list = await server.admin('GET', '/sessions?user=many');
    assert.equal(list.status, 200, list.text);
    assert.ok(list.json.sessions.length <= 64, `${list.json.sessions.length} sessions`);
    assert.ok(list.json.sessions.length >= 32);
    // The first browser's session was among the oldest: it has ended.
    const a = await authUrl(config, { prompt: 'none' });
    const r = await first.get(a.url.href);
    assert.equal(new URL(r.location).searchParams.get('error'), 'login_required');
  });
});

describe('authflow password rules', { skip: STORE !== 'memory' }, () => {
  test('passwords.blocklist_file: listed, common, repeated and own-name passwords are refused when set', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'authflow-pwlist-'));
    const file = path.join(dir, 'refused.txt');
    const sha1 = (t) => createHash('sha1').update(t).digest('hex').toUpperCase();
    // A typed password, and a breached one by its SHA-1 with a count; a
    // line no password can be is skipped, and the log says where.
    writeFileSync(file, `Ward-Round-2026\r\n${sha1('hospital-summer')}:3\n${'z'.repeat(2000)}\n`);
    const srv = await startServer({ passwords: { min_length: 10, blocklist_file: file }, logLevel: 'info' });
    try {
      assert.match(srv.stderr(), /"event":"passwords","msg":"\d+ common and breached passwords are refused when set \(the built-in list and passwords\.blocklist_file\)"/);
      assert.match(srv.stderr(), /"event":"passwords","msg":"passwords\.blocklist_file: 1 line\(s\) skipped, the first at line 3: longer than any password \(1024 bytes\) or holding a NUL byte"/);
      // A start says what it is timing, and what one check takes.
      assert.match(srv.stderr(), /"event":"passwords","msg":"timing the password check \(argon2id m_kib=1024 t=1 p=1\)"/);
      assert.match(srv.stderr(), /"level":"info","event":"passwords","msg":"a password check takes \d+ ms"/);
      const listed = 'password: is on the list of common and breached passwords: choose another';
      const cases = [
        ['Ward-Round-2026', listed],
        ['hospital-summer', listed],
        ['HOSPITAL-SUMMER', listed],
        ['password123', listed],
        ['Rosamunde-K', 'password: must not be the user name'],
        ['short-9ch', 'password: must be at least 10 characters'],
        ['0123456789', 'password: must not be a run of consecutive characters, like 12345678 or abcdefgh'],
        ['xyz!xyz!xyz!', 'password: must not be a character or a few repeated, like aaaaaaaa or abababab'],
      ];
      for (const [password, message] of cases) {
        const r = await srv.admin('POST', '/users', { username: 'rosamunde-k', password });
        assert.equal(r.status, 400, `${password}: ${r.text}`);
        assert.equal(r.json.message, message, password);
      }
      // None of those made the user.
      assert.equal((await srv.admin('GET', '/users/rosamunde-k')).status, 404);
      const made = await srv.admin('POST', '/users', { username: 'rosamunde-k', password: 'night-shift-ward-7' });
      assert.equal(made.status, 201, made.text);
      const again = await srv.admin('PUT', '/users/rosamunde-k/password', { password: 'WARD-ROUND-2026x' });
      assert.equal(again.status, 200, again.text);
      const refused = await srv.admin('PUT', '/users/rosamunde-k/password', { password: 'Hospital-Summer' });
      assert.equal(refused.status, 400, refused.text);
      assert.equal(refused.json.message, listed);
    } finally {
      await srv.stop();
    }
    rmSync(file);
    await assert.rejects(startServer({ passwords: { blocklist_file: file } }), (e) => {
      assert.match(e.message, /authflow: [^\n]*authflow\.json: passwords\.blocklist_file: [^\n]*refused\.txt: No such file or directory\n/);
      return true;
    });
    rmSync(dir, { recursive: true });
  });
});

describe('authflow start at a high password cost', { skip: STORE !== 'memory' }, () => {
  test('SIGTERM while the password check is being timed ends the start at once', { timeout: 60000 }, async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'authflow-e2e-'));
    const port = await freePort();
    const cfg = {
      issuer: `http://127.0.0.1:${port}`,
      listen: { address: '127.0.0.1', port },
      state_dir: dir,
      store: { backend: 'memory' },
      // Seconds a check: the timing takes far longer than the wait below.
      password_hash: { argon2id: { m_kib: 131072, t: 64, p: 1 } },
      admin: { tokens: [{ name: 's', role: 'superadmin', sha256: createHash('sha256').update('x'.repeat(43)).digest('hex') }] },
      log: { level: 'info' },
    };
    const file = path.join(dir, 'authflow.json');
    writeFileSync(file, JSON.stringify(cfg), { mode: 0o600 });
    const proc = spawn(path.join(BIN, 'authflow'), ['--config', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr.on('data', (d) => { stderr += d; });
    const gone = new Promise((res) => proc.on('exit', (code, sig) => res({ code, sig })));
    try {
      for (let i = 0; i < 200 && !/timing the password check/.test(stderr); i++) await sleep(50);
      assert.match(stderr, /"msg":"timing the password check \(argon2id m_kib=131072 t=64 p=1\)"/);
      await sleep(300);
      const t0 = Date.now();
      proc.kill('SIGTERM');
      const end = await Promise.race([gone, sleep(5000).then(() => null)]);
      assert.ok(end, `still running 5 s after SIGTERM:\n${stderr}`);
      assert.equal(end.sig, 'SIGTERM');
      assert.ok(Date.now() - t0 < 5000);
      assert.doesNotMatch(stderr, /a password check takes/);
    } finally {
      proc.kill('SIGKILL');
      await gone;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('authflow accounts.inactive_days', { skip: STORE !== 'redis' }, () => {
  test('an account idle for longer is disabled at its next sign-in, by the server; enabled again it signs in', async () => {
    const srv = await startServer({ accounts: { inactive_days: 30 } });
    const url = process.env.AF_TEST_REDIS_URL;
    const prefix = `e2e${srv.port}:`;
    const redis = (...args) => execFileSync('redis-cli', ['-u', url, '--raw', ...args]).toString().trim();
    const daysAgo = (n) => Math.floor(Date.now() / 1000) - n * 86400;
    const attempt = async (s, password) => {
      const config = await client.discovery(new URL(srv.issuer), s.clientId, undefined,
        client.ClientSecretBasic(s.clientSecret), { execute: [client.allowInsecureRequests] });
      return signIn(new Browser(), srv.issuer, (await authUrl(config)).url.href, s.user, password);
    };
    try {
      const idle = await seed(srv, { user: 'idle-ida' });
      const busy = await seed(srv, { user: 'busy-bo' });
      // Records began 60 days ago; both users were made 40 days ago and
      // never signed in since.
      redis('SET', `${prefix}signins:since`, String(daysAgo(60)));
      for (const name of ['idle-ida', 'busy-bo']) {
        const rec = JSON.parse(redis('GET', `${prefix}user:${name}`));
        rec.created_at = daysAgo(40);
        redis('SET', `${prefix}user:${name}`, JSON.stringify(rec));
      }
      // bo signed in 10 days ago: not idle.
      const bo = JSON.parse(redis('GET', `${prefix}user:busy-bo`));
      redis('SET', `${prefix}signin:busy-bo`, JSON.stringify({
        sub: bo.sub, time: daysAgo(10), address: '127.0.0.1', client_id: busy.clientId, amr: ['pwd'],
      }));
      const ok = await attempt(busy, busy.password);
      assert.equal(ok.status, 302, ok.text);
      // A wrong password tells nothing and changes nothing.
      assert.equal((await attempt(idle, 'not the password')).status, 401);
      assert.equal((await srv.admin('GET', '/users/idle-ida')).json.enabled, true);
      const r = await attempt(idle, idle.password);
      assert.equal(r.status, 403, r.text);
      assert.match(r.text, /Account disabled/);
      assert.match(r.text, /service desk/);
      assert.equal((await srv.admin('GET', '/users/idle-ida')).json.enabled, false);
      const ev = (await srv.admin('GET', '/audit?limit=10')).json.events.find((e) => e.action === 'user.set' && e.target === 'idle-ida');
      assert.equal(ev.actor, 'authflow');
      assert.equal(ev.ip, '127.0.0.1');
      assert.match(srv.stderr(), /"msg":"idle_days=40","user":"idle-ida"[^\n]*"outcome":"inactive"/);
      // An administrator enables the user again: idle from now on.
      assert.equal((await srv.admin('PATCH', '/users/idle-ida', { enabled: true })).status, 200);
      const back = await attempt(idle, idle.password);
      assert.equal(back.status, 302, back.text);
      assert.ok(new URL(back.location).searchParams.get('code'));
    } finally {
      await srv.stop();
    }
  });
});

describe('authflow session index', { skip: STORE !== 'redis' }, () => {
  test('index members carry the time of making; older and damaged members are read, and go first', async () => {
    const srv = await startServer();
    const url = process.env.AF_TEST_REDIS_URL;
    const prefix = `e2e${srv.port}:`;
    const redis = (...args) => execFileSync('redis-cli', ['-u', url, '--raw', ...args]).toString().trim();
    const index = `${prefix}user_sessions:indexed-ida`;
    const members = () => redis('SMEMBERS', index).split('\n').filter((m) => m !== '');
    try {
      const s = await seed(srv, { user: 'indexed-ida' });
      const config = await client.discovery(new URL(srv.issuer), s.clientId, undefined,
        client.ClientSecretBasic(s.clientSecret), { execute: [client.allowInsecureRequests] });
      const first = new Browser();
      const before = Date.now();
      const r0 = await signIn(first, srv.issuer, (await authUrl(config)).url.href, s.user, s.password);
      assert.equal(r0.status, 302, r0.text);
      const [member] = members();
      const m = /^(\d+)\.([0-9a-f]{64})$/.exec(member);
      assert.ok(m, member);
      assert.ok(Number(m[1]) >= before - 1000 && Number(m[1]) <= Date.now() + 1000, member);
      assert.equal(redis('EXISTS', `${prefix}sess:${m[2]}`), '1');
      // The member as an older server wrote it: the session is still listed.
      redis('SREM', index, member);
      redis('SADD', index, m[2]);
      redis('SADD', index, 'not.a-member', '12x.abc', '.abc', '7.');
      const listed = await srv.admin('GET', '/sessions?user=indexed-ida');
      assert.equal(listed.status, 200, listed.text);
      assert.equal(listed.json.sessions.length, 1);
      // The index is pruned every 32 sign-ins, once over 64 members: with
      // 95 more the older member reads as the oldest, and ends.
      for (let i = 0; i < 95; i++) {
        const r = await signIn(new Browser(), srv.issuer, (await authUrl(config)).url.href, s.user, s.password);
        assert.equal(r.status, 302, r.text);
      }
      const left = members();
      assert.ok(!left.includes(m[2]), 'the older member is gone');
      for (const bad of ['not.a-member', '12x.abc', '.abc', '7.'])
        assert.ok(!left.includes(bad), `${bad} is dropped`);
      assert.ok(left.length <= 64 && left.every((x) => /^\d+\.[0-9a-f]{64}$/.test(x)), left.join(' '));
      assert.equal(redis('EXISTS', `${prefix}sess:${m[2]}`), '0');
      const again = await first.get((await authUrl(config, { prompt: 'none' })).url.href);
      assert.equal(new URL(again.location).searchParams.get('error'), 'login_required');
    } finally {
      await srv.stop();
    }
  });
});

describe('authflow lockout', { skip: STORE !== 'memory' }, () => {
  test('limits.lockout_after: a bank\'s rule of three locks at the third wrong password', async () => {
    const srv = await startServer({ limits: { lockout_after: 3 } });
    try {
      const s = await seed(srv, { user: 'three-strikes' });
      const b = new Browser();
      const config = await client.discovery(new URL(srv.issuer), s.clientId, undefined,
        client.ClientSecretBasic(s.clientSecret), { execute: [client.allowInsecureRequests] });
      for (let i = 0; i < 3; i++) {
        const r = await signIn(b, srv.issuer, (await authUrl(config)).url.href, s.user, `wrong-${i}`);
        assert.equal(r.status, 401, `try ${i}: ${r.status}`);
      }
      // Locked before any delay: the right password gets the lock page.
      const r = await signIn(b, srv.issuer, (await authUrl(config)).url.href, s.user, s.password);
      assert.equal(r.status, 403, r.text);
      assert.match(r.text, /This account is locked after too many/);
      const u = await srv.admin('GET', `/users/${s.user}`);
      assert.equal(u.json.locked, true);
      assert.equal(u.json.failed_signins, 3);
    } finally {
      await srv.stop();
    }
  });
});

describe('authflow and its Redis', { skip: STORE !== 'redis' }, () => {
  test('a password Redis refuses: authflow does not start, and says why in one line', async () => {
    const auth = process.env.AF_TEST_REDIS_AUTH_URL;
    assert.ok(auth, 'with-redis.sh gives an ACL user');
    const bad = auth.replace(/^redis:\/\/aftest:.*@/, 'redis://aftest:not-the-password@');
    await assert.rejects(startServer({ store: 'redis', redisUrl: bad }), (e) => {
      assert.match(e.message, /authflow: [^\n]*authflow\.json: store: redis refused the user name or password in store\.url\n/);
      assert.doesNotMatch(e.message, /not-the-password/);
      return true;
    });
  });
});

describe('authflow and its Redis', { skip: STORE !== 'redis' }, () => {
  // A redis-server of its own on port (extra arguments added), once it
  // takes connections.
  // redis-cli against the Redis on port: the answer's text, trimmed.
  const redisCli = (port) => (...args) => execFileSync('redis-cli', ['-p', String(port), ...args]).toString().trim();

  async function redisOn(port, extra = []) {
    const p = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      ...extra], { stdio: 'ignore' });
    for (let i = 0; i < 50; i++) {
      const up = await new Promise((res) => {
        const c = net.connect(port, '127.0.0.1', () => { c.destroy(); res(true); });
        c.on('error', () => res(false));
      });
      if (up) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    return p;
  }

  // A user and app on srv, and a browser at the sign-in form of a new
  // sign-in: { s, url, b, o }.
  async function atTheForm(srv, user) {
    const s = await seed(srv, { user });
    const config = await client.discovery(new URL(srv.issuer), s.clientId, undefined,
      client.ClientSecretBasic(s.clientSecret), { execute: [client.allowInsecureRequests] });
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT, scope: 'openid', state: client.randomState(),
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    const b = new Browser();
    return { s, url, b, o: await openAuthorize(b, srv.issuer, url.href) };
  }

  // Between authflow and the Redis on port: passes everything on, except
  // that the answer to the first command matching proxy.rule (a regular
  // expression over the command as sent, once it is set) never comes
  // back: the connection drops, as when a network or a stalled Redis
  // loses it. proxy.dropped counts such commands.
  async function lossyProxy(port) {
    const proxy = net.createServer((down) => {
      const up = net.connect(port, '127.0.0.1');
      let drop = false;
      const end = () => { down.destroy(); up.destroy(); };
      down.on('data', (d) => {
        if (proxy.rule && proxy.dropped === 0 && proxy.rule.test(d.toString('latin1'))) {
          drop = true;
          proxy.dropped++;
        }
        up.write(d);
      });
      // proxy.hold: answers are swallowed and the connection kept, as a
      // Redis that hangs (or a network that lost its route) does.
      up.on('data', (d) => { if (drop) end(); else if (!proxy.hold) down.write(d); });
      for (const sock of [down, up]) {
        sock.on('error', end);
        sock.on('close', end);
      }
    });
    proxy.rule = null;
    proxy.dropped = 0;
    proxy.hold = false;
    await new Promise((res) => proxy.listen(0, '127.0.0.1', res));
    return proxy;
  }

  test('a new user Redis wrote but whose answer was lost is added whole: groups, audit, userinfo', { timeout: 60000 }, async () => {
    const port = await freePort();
    const redis = await redisOn(port);
    const proxy = await lossyProxy(port);
    proxy.rule = /\r\nSET\r\n\$\d+\r\n[^\r]*:user:lostreply\r\n/;
    let srv;
    try {
      srv = await startServer({ store: 'redis', redisUrl: `redis://127.0.0.1:${proxy.address().port}` });
      assert.equal((await srv.admin('POST', '/groups', { name: 'tellers' })).status, 201);
      assert.equal((await srv.admin('POST', '/policies', { name: 'tellers-sso', sso: true, remote_access: false })).status, 201);
      assert.equal((await srv.admin('POST', '/policies/tellers-sso/assign', { group: 'tellers' })).status, 200);
      const password = 'correct horse battery';
      const u = await srv.admin('POST', '/users', {
        username: 'lostreply', email: 'lostreply@example.com', email_verified: true, password, groups: ['tellers'],
      });
      assert.equal(proxy.dropped, 1, 'the answer to the record\'s write was lost');
      assert.equal(u.status, 201, u.text);
      assert.ok((await srv.admin('GET', '/groups/tellers')).json.members.includes('lostreply'));
      const added = (await srv.admin('GET', '/audit?limit=100&action=user.add&user=lostreply')).json.events;
      assert.equal(added.length, 1);
      const a = await srv.admin('POST', '/apps', { name: 'lostreply-rp', display_name: 'RP', redirect_uris: [REDIRECT] });
      assert.equal(a.status, 201, a.text);
      assert.equal((await srv.admin('POST', `/apps/${a.json.client_id}/deploy`, { all: true })).status, 200);
      const config = await client.discovery(new URL(srv.issuer), a.json.client_id, undefined,
        client.ClientSecretBasic(a.json.client_secret), { execute: [client.allowInsecureRequests] });
      const verifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: REDIRECT, scope: 'openid', state,
        code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
      });
      const r = await signIn(new Browser(), srv.issuer, url.href, 'lostreply', password);
      assert.equal(r.status, 302, r.text);
      const tokens = await client.authorizationCodeGrant(config, new URL(r.location),
        { pkceCodeVerifier: verifier, expectedState: state });
      // The subject's mapping was kept: the user's tokens name a user.
      const ui = await client.fetchUserInfo(config, tokens.access_token, tokens.claims().sub);
      assert.equal(ui.sub, tokens.claims().sub);
    } finally {
      proxy.close();
      redis.kill('SIGKILL');
      if (srv) await srv.stop();
    }
  });

  test('decisions Redis stored but whose answers were lost stand: an approval signs in, a report pauses pushes', { timeout: 60000 }, async () => {
    const port = await freePort();
    const redis = await redisOn(port);
    const proxy = await lossyProxy(port);
    let srv;
    try {
      srv = await startServer({ store: 'redis', redisUrl: `redis://127.0.0.1:${proxy.address().port}` });
      const s = await seed(srv, { user: 'lostreport', policy: { remote_access: true } });
      const phone = await enrollPhone(srv, s.user, ['--platform', 'none']);
      const config = await discover(srv, s);
      // A sign-in waiting on the phone, and the compare-and-set of the
      // phone's decision set to run with its answer lost: { b, page, txn }.
      const waiting = async () => {
        const b = new Browser();
        const r = await signIn(b, srv.issuer, (await authRequest(config)).url.href, s.user, s.password);
        assert.equal(r.status, 303, r.text);
        const page = await b.get(new URL(r.location, srv.issuer).href);
        const pending = await idsim(srv, phone, ['pending']);
        assert.equal(pending.code, 0, pending.stderr);
        const txn = pending.stdout.split(' ')[0];
        proxy.dropped = 0;
        proxy.rule = new RegExp(`\\r\\nEVAL(SHA)?\\r\\n[\\s\\S]*:txn:${txn}\\r\\n`);
        return { b, page, txn };
      };
      let w = await waiting();
      const ok = await idsim(srv, phone, ['approve', w.txn, '--number', pageNumber(w.page.text)]);
      assert.equal(proxy.dropped, 1, 'the answer to the approval was lost');
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.stdout, 'approved');
      const flow = hiddenFields(w.page.text).flow;
      const st = JSON.parse((await w.b.get(`${srv.issuer}/login/mfa/status?flow=${flow}`)).text);
      assert.equal(st.state, 'approved');
      assert.equal((await w.b.get(new URL(st.next, srv.issuer).href)).status, 302);
      w = await waiting();
      const txn = w.txn;
      const d = await idsim(srv, phone, ['deny', txn, '--report']);
      assert.equal(proxy.dropped, 1, 'the answer to the decision was lost');
      assert.equal(d.code, 0, d.stderr);
      assert.equal(d.stdout, 'reported');
      const u = (await srv.admin('GET', `/users/${s.user}`)).json;
      assert.ok(u.push_paused_until > Date.now() / 1000, JSON.stringify(u));
      const ev = (await srv.admin('GET', `/audit?limit=100&action=mfa.report&user=${s.user}`)).json.events;
      assert.equal(ev.length, 1);
    } finally {
      proxy.close();
      redis.kill('SIGKILL');
      if (srv) await srv.stop();
    }
  });

  test('store.timeout_ms: a Redis that stops answering fails requests after that long, and they work once it answers', { timeout: 60000 }, async () => {
    const port = await freePort();
    const redis = await redisOn(port);
    const proxy = await lossyProxy(port);
    let srv;
    // How long GET /admin/v1/users takes, and its status.
    const timed = async () => {
      const t0 = performance.now();
      const r = await srv.admin('GET', '/users');
      return { status: r.status, ms: performance.now() - t0 };
    };
    try {
      srv = await startServer({
        store: 'redis', redisUrl: `redis://127.0.0.1:${proxy.address().port}`, storeOptions: { timeout_ms: 300 },
      });
      assert.equal((await timed()).status, 200);
      proxy.hold = true;
      const held = await timed();
      assert.equal(held.status, 503);
      assert.ok(held.ms >= 250 && held.ms < 1500, `gave up after ${held.ms} ms, not about 300`);
      proxy.hold = false;
      let back;
      for (let i = 0; i < 50 && (back = await timed()).status !== 200; i++) await sleep(100);
      assert.equal(back.status, 200, 'a new connection once Redis answers again');
    } finally {
      proxy.close();
      redis.kill('SIGKILL');
      if (srv) await srv.stop();
    }
  });

  test('a key under the prefix holding another type of value: 503, and one error line says why', { timeout: 60000 }, async () => {
    const port = await freePort();
    const redis = await redisOn(port);
    const cli = redisCli(port);
    let srv;
    try {
      srv = await startServer({ store: 'redis', redisUrl: `redis://127.0.0.1:${port}` });
      assert.equal((await srv.admin('GET', '/users')).status, 200);
      // Another program writes a string where authflow keeps a set.
      assert.equal(cli('SET', `e2e${srv.port}:users`, 'not a set'), 'OK');
      for (let i = 0; i < 3; i++) assert.equal((await srv.admin('GET', '/users')).status, 503);
      const lines = srv.stderr().split('\n').filter((l) => l.includes('WRONGTYPE'));
      assert.equal(lines.length, 1, srv.stderr());
      const line = JSON.parse(lines[0]);
      assert.equal(line.level, 'error');
      assert.equal(line.event, 'store');
      assert.doesNotMatch(lines[0], /users/, 'no key: keys hold user names');
    } finally {
      redis.kill('SIGKILL');
      if (srv) await srv.stop();
    }
  });

  test('records changed by hand: a listing leaves them out, a damaged policy fails sign-ins closed, one error line in 10 s', { timeout: 60000 }, async () => {
    const port = await freePort();
    const redis = await redisOn(port);
    const cli = redisCli(port);
    let srv;
    try {
      srv = await startServer({ store: 'redis', redisUrl: `redis://127.0.0.1:${port}` });
      const { s, url } = await atTheForm(srv, 'handmade');
      assert.equal((await srv.admin('POST', '/users', { username: 'bob', password: 'night-shift-ward-7' })).status, 201);
      // A user record that is JSON but names nobody: left out, not a 400.
      assert.equal(cli('SET', `e2e${srv.port}:user:bob`, '{"created_at":"x","email":5}'), 'OK');
      for (let i = 0; i < 3; i++) {
        const r = await srv.admin('GET', '/users');
        assert.equal(r.status, 200, r.text);
        assert.deepEqual(r.json.users.map((u) => u.username), [s.user]);
      }
      let lines = srv.stderr().split('\n').filter((l) => l.includes('is damaged'));
      assert.equal(lines.length, 1, srv.stderr());
      assert.equal(JSON.parse(lines[0]).level, 'error');
      assert.match(lines[0], /record user:bob is damaged/);
      // The user's policy holding another's name: whom it named is not
      // known, so no sign-in goes on under some other policy.
      const key = `e2e${srv.port}:policy:sso-${s.user}`;
      const good = cli('GET', key);
      assert.equal(cli('SET', key, JSON.stringify({ ...JSON.parse(good), name: 'other' })), 'OK');
      // A change by hand bumps no generation: the policies listed within
      // the last second (the user listing above reads them) may answer
      // until then (authflow/directory/memo.h).
      await sleep(1100);
      const r = await signIn(new Browser(), srv.issuer, url.href, s.user, s.password);
      assert.equal(r.status, 503, r.text);
      lines = srv.stderr().split('\n').filter((l) => l.includes('is damaged'));
      assert.equal(lines.length, 1, 'told once in 10 s');
      // The user listing still answers, without the policy it cannot tell.
      const listed = await srv.admin('GET', '/users');
      assert.equal(listed.status, 200, listed.text);
      assert.ok(listed.json.users.every((u) => !('policy' in u)), listed.text);
      // Put back, it signs in again.
      assert.equal(cli('SET', key, good), 'OK');
      await sleep(1100);
      const back = await signIn(new Browser(), srv.issuer, url.href, s.user, s.password);
      assert.equal(back.status, 302, back.text);
    } finally {
      redis.kill('SIGKILL');
      if (srv) await srv.stop();
    }
  });

  test('with the store gone, sign-in pages say the service is unavailable', { timeout: 60000 }, async () => {
    const port = await freePort();
    const redis = await redisOn(port);
    let srv;
    try {
      srv = await startServer({ store: 'redis', redisUrl: `redis://127.0.0.1:${port}` });
      const { s, url, b, o } = await atTheForm(srv, 'outage');
      redis.kill('SIGKILL');
      await new Promise((res) => redis.once('exit', res));
      const r = await b.get(url.href);
      assert.equal(r.status, 503, 'not "unknown application"');
      const p = await b.post(`${srv.issuer}/login`, { ...o.fields, username: s.user, password: s.password });
      assert.equal(p.status, 503, 'not "this page has expired"');
    } finally {
      redis.kill('SIGKILL');
      if (srv) await srv.stop();
    }
  });

  test('a Redis that answers but refuses writes (full): health says so, and wrong passwords are not checked uncounted', { timeout: 60000 }, async () => {
    const port = await freePort();
    const redis = await redisOn(port);
    const cli = redisCli(port);
    let srv;
    try {
      srv = await startServer({ store: 'redis', redisUrl: `redis://127.0.0.1:${port}` });
      const { s, b, o } = await atTheForm(srv, 'full');
      assert.equal(cli('config', 'set', 'maxmemory', '1'), 'OK');
      assert.equal((await healthWithin(srv.issuer, 503)).store, 'unavailable');
      // The server's own watch says why, within a second or two.
      for (let i = 0; i < 40 && !/redis refuses writes: OOM/.test(srv.stderr()); i++) {
        await new Promise((res) => setTimeout(res, 100));
      }
      assert.match(srv.stderr(), /the store does not answer: redis refuses writes: OOM/);
      // A wrong password that cannot be counted is not told as wrong,
      // and then no password is checked for a while, the right one too.
      let p = await b.post(`${srv.issuer}/login`, { ...o.fields, username: s.user, password: 'wrong password' });
      assert.equal(p.status, 503);
      assert.match(srv.stderr(), /could not count a failed password: no password or token code is checked for 10 s/);
      assert.equal(cli('config', 'set', 'maxmemory', '0'), 'OK');
      p = await b.post(`${srv.issuer}/login`, { ...o.fields, username: s.user, password: s.password });
      assert.equal(p.status, 503, 'not checked');
      await healthWithin(srv.issuer, 200);
    } finally {
      redis.kill('SIGKILL');
      if (srv) await srv.stop();
    }
  });

  test('the store going away and coming back is in authflow\'s own log and metrics, without its password', { timeout: 60000 }, async () => {
    const port = await freePort();
    const password = `pw-${randomBytes(6).toString('hex')}`;
    const startRedis = () => redisOn(port, ['--requirepass', password]);
    const lines = (s) => s.stderr().split('\n').filter((l) => l.includes('"event":"store"')).map((l) => JSON.parse(l));
    const metric = async (s, name) => Number((await (await fetch(`${s.issuer}/metrics`)).text())
      .match(new RegExp(`^${name} (\\d+)$`, 'm'))?.[1]);
    const waitFor = async (what, fn) => {
      for (let i = 0; i < 150; i++) {
        if (await fn()) return;
        await new Promise((res) => setTimeout(res, 100));
      }
      assert.fail(`no ${what}`);
    };
    let redis = await startRedis();
    let srv;
    try {
      srv = await startServer({ store: 'redis', redisUrl: `redis://:${password}@127.0.0.1:${port}`, logLevel: 'info' });
      assert.equal(await metric(srv, 'authflow_store_up'), 1);
      assert.equal(lines(srv).length, 0);
      redis.kill('SIGKILL');
      await new Promise((res) => redis.once('exit', res));
      // Within a second or two: one error line, with the reason.
      await waitFor('store error line', () => lines(srv).some((l) => l.level === 'error'));
      await waitFor('store_up 0', async () => (await metric(srv, 'authflow_store_up')) === 0);
      const down = lines(srv).filter((l) => l.level === 'error');
      assert.equal(down.length, 1, 'one line when it goes down, not one a second');
      assert.match(down[0].msg, /^the store does not answer: .*(connect|connection)/);
      assert.ok(await metric(srv, 'authflow_store_check_failures_total') >= 1);
      assert.equal((await fetch(`${srv.issuer}/healthz`)).status, 503);
      redis = await startRedis();
      await waitFor('recovery line', () => lines(srv).some((l) => /answers again/.test(l.msg)));
      const back = lines(srv).find((l) => /answers again/.test(l.msg));
      assert.equal(back.level, 'info');
      assert.match(back.msg, /^the store answers again, after \d+ s down$/);
      assert.equal(await metric(srv, 'authflow_store_up'), 1);
      assert.equal((await fetch(`${srv.issuer}/healthz`)).status, 200);
      assert.doesNotMatch(srv.stderr(), new RegExp(password));
    } finally {
      redis.kill('SIGKILL');
      if (srv) await srv.stop();
    }
  });

  test('a Redis that evicts keys when full is an error line, a metric and a word in the status; noeviction is none', { timeout: 60000 }, async () => {
    const port = await freePort();
    const redis = await redisOn(port, ['--maxmemory', '100mb', '--maxmemory-policy', 'volatile-lru']);
    let srv;
    try {
      srv = await startServer({ store: 'redis', redisUrl: `redis://127.0.0.1:${port}` });
      const said = /redis evicts keys when it is full \(maxmemory-policy volatile-lru\): lockout and throttle counters, replay records and sign-ins may vanish before they expire, and a flood can make it full; set maxmemory-policy noeviction/;
      for (let i = 0; i < 40 && !said.test(srv.stderr()); i++) await new Promise((res) => setTimeout(res, 100));
      assert.match(srv.stderr(), said);
      const lines = srv.stderr().split('\n').filter((l) => said.test(l)).map((l) => JSON.parse(l));
      assert.equal(lines.length, 1);
      assert.equal(lines[0].level, 'error');
      assert.match(await (await fetch(`${srv.issuer}/metrics`)).text(), /^authflow_store_evicts 1$/m);
      const st = ctl(srv, ['status']);
      assert.equal(st.code, 0, st.stderr);
      assert.match(st.stdout, /^store: redis, ok, EVICTS KEYS WHEN FULL \(set redis maxmemory-policy noeviction\)$/m);
      assert.equal((await srv.admin('GET', '/status')).json.store.evicts, true);
    } finally {
      redis.kill('SIGKILL');
      if (srv) await srv.stop();
    }
    // The usual Redis: nothing said, and the status says it keeps them.
    const port2 = await freePort();
    const kept = await redisOn(port2, ['--maxmemory', '100mb', '--maxmemory-policy', 'noeviction']);
    try {
      srv = await startServer({ store: 'redis', redisUrl: `redis://127.0.0.1:${port2}` });
      await new Promise((res) => setTimeout(res, 1500));
      assert.doesNotMatch(srv.stderr(), /evicts keys/);
      assert.match(await (await fetch(`${srv.issuer}/metrics`)).text(), /^authflow_store_evicts 0$/m);
      assert.equal((await srv.admin('GET', '/status')).json.store.evicts, false);
      assert.match(ctl(srv, ['status']).stdout, /^store: redis, ok$/m);
      await srv.stop();
      // A user that may not run INFO: a warning that it cannot be told.
      assert.equal(redisCli(port2)('acl', 'setuser', 'noinfo', 'on', '>noinfo-pw', '~*', '&*', '+@all', '-@dangerous', '-@admin'), 'OK');
      srv = await startServer({ store: 'redis', redisUrl: `redis://noinfo:noinfo-pw@127.0.0.1:${port2}` });
      const untold = /"level":"warn".*cannot tell whether redis evicts keys when full: its user may not run INFO; make sure its maxmemory-policy is noeviction/;
      for (let i = 0; i < 40 && !untold.test(srv.stderr()); i++) await new Promise((res) => setTimeout(res, 100));
      assert.match(srv.stderr(), untold);
      assert.equal((await srv.admin('GET', '/status')).json.store.evicts, null);
      assert.match(await (await fetch(`${srv.issuer}/metrics`)).text(), /^authflow_store_evicts -1$/m);
    } finally {
      kept.kill('SIGKILL');
      if (srv) await srv.stop();
    }
  });

  test('a Redis that lost its data (flushed) is an error line and a metric, not a store that looks well', { timeout: 60000 }, async () => {
    const port = await freePort();
    const redis = await redisOn(port);
    let srv;
    try {
      srv = await startServer({ store: 'redis', redisUrl: `redis://127.0.0.1:${port}` });
      const lost = /the store lost its data \(flushed, or a restart or failover without it\): users, applications and settings are gone from it, and sign-ins fail; restore it from a backup/;
      await new Promise((res) => setTimeout(res, 1500));
      assert.doesNotMatch(srv.stderr(), lost, 'a store as it was is not lost');
      assert.equal(redisCli(port)('flushall'), 'OK');
      for (let i = 0; i < 100 && !lost.test(srv.stderr()); i++) await new Promise((res) => setTimeout(res, 100));
      assert.match(srv.stderr(), lost);
      assert.match(await (await fetch(`${srv.issuer}/metrics`)).text(), /^authflow_store_data_lost_total 1$/m);
    } finally {
      redis.kill('SIGKILL');
      if (srv) await srv.stop();
    }
  });

  test('/healthz never waits on a Redis that hangs: it answers at once, and 503 once the server\'s store work has hung two seconds', { timeout: 60000 }, async () => {
    const port = await freePort();
    const redis = await redisOn(port);
    let srv;
    try {
      // A long time limit (a Sentinel failover's): no probe waits it out.
      srv = await startServer({ store: 'redis', redisUrl: `redis://127.0.0.1:${port}`, storeOptions: { timeout_ms: 10000 } });
      await healthWithin(srv.issuer, 200);
      redis.kill('SIGSTOP');
      const statuses = [];
      let slowest = 0;
      for (let i = 0; i < 60 && !statuses.includes(503); i++) {
        const t0 = Date.now();
        const h = await fetch(`${srv.issuer}/healthz`);
        await h.arrayBuffer();
        slowest = Math.max(slowest, Date.now() - t0);
        statuses.push(h.status);
        await new Promise((res) => setTimeout(res, 100));
      }
      assert.ok(statuses.includes(503), statuses.join(' '));
      assert.ok(slowest < 500, `a probe waited ${slowest} ms`);
      redis.kill('SIGCONT');
      await healthWithin(srv.issuer, 200);
    } finally {
      redis.kill('SIGCONT');
      redis.kill('SIGKILL');
      if (srv) await srv.stop();
    }
  });

  test('after a long outage every thread comes back with the store, not each after its own back-off', { timeout: 60000 }, async () => {
    const port = await freePort();
    let redis = await redisOn(port);
    let srv;
    try {
      srv = await startServer({ store: 'redis', redisUrl: `redis://127.0.0.1:${port}`, logLevel: 'info' });
      redis.kill('SIGKILL');
      await new Promise((res) => redis.once('exit', res));
      // Requests on every thread through the outage: their back-offs grow
      // to seconds. (The admin API reads the users from the store;
      // /healthz answers from the server's own check and reads nothing.)
      const bearer = () => srv.admin('GET', '/users');
      for (let i = 0; i < 14; i++) {
        const rs = await Promise.all(Array.from({ length: 8 }, bearer));
        if (i === 13) assert.ok(rs.every((r) => r.status === 503), rs.map((r) => r.status).join(' '));
        await new Promise((res) => setTimeout(res, 400));
      }
      redis = await redisOn(port);
      for (let i = 0; i < 150 && !/answers again/.test(srv.stderr()); i++) {
        await new Promise((res) => setTimeout(res, 50));
      }
      assert.match(srv.stderr(), /the store answers again/);
      const codes = [];
      for (let i = 0; i < 3; i++) {
        const rs = await Promise.all(Array.from({ length: 8 }, bearer));
        codes.push(...rs.map((r) => r.status));
      }
      assert.ok(codes.every((c) => c === 200), codes.join(' '));
    } finally {
      redis.kill('SIGKILL');
      if (srv) await srv.stop();
    }
  });
});

describe(`authflow stopping (${STORE} store)`, () => {
  test('SIGHUP: the admin tokens of the file apply at once; a file that does not load changes nothing', async () => {
    const srv = await startServer({ logLevel: 'info' });
    const sha = (t) => createHash('sha256').update(t).digest('hex');
    const logged = async (re) => {
      for (let i = 0; i < 100 && !re.test(srv.stderr()); i++) await new Promise((r) => setTimeout(r, 50));
      assert.match(srv.stderr(), re);
    };
    try {
      const cfg = JSON.parse(readFileSync(srv.configPath, 'utf8'));
      const fresh = randomBytes(32).toString('base64url');
      // The admin token leaked: replaced by a new one.
      cfg.admin.tokens = [cfg.admin.tokens[0], { name: 'e2e-admin-2', role: 'admin', sha256: sha(fresh) }];
      writeFileSync(srv.configPath, JSON.stringify(cfg), { mode: 0o600 });
      assert.equal((await srv.admin('GET', '/users', undefined, srv.adminToken)).status, 200);
      srv.proc.kill('SIGHUP');
      await logged(/"event":"reload","msg":"SIGHUP: [^"]*authflow\.json: applied admin\.tokens"/);
      assert.equal((await srv.admin('GET', '/users', undefined, srv.adminToken)).status, 401);
      // Who administers the server changed: on the trail, by the server.
      const tokenEvents = (await srv.admin('GET', '/audit?action=admin_token.&limit=10')).json.events
        .map((e) => [e.actor, e.action, e.target, e.detail.role]).sort();
      assert.deepEqual(tokenEvents, [['authflow', 'admin_token.add', 'e2e-admin-2', 'admin'],
        ['authflow', 'admin_token.remove', 'e2e-admin', 'admin']]);
      assert.equal((await srv.admin('POST', '/groups', { name: 'ward-7' }, fresh)).status, 201);
      const ev = (await srv.admin('GET', '/audit?limit=1')).json.events[0];
      assert.deepEqual([ev.actor, ev.action], ['e2e-admin-2', 'group.add']);
      assert.doesNotMatch(srv.stderr(), /other than admin\.tokens/);
      // A file that does not load: one line, the tokens stay.
      writeFileSync(srv.configPath, '{"issuer": ', { mode: 0o600 });
      srv.proc.kill('SIGHUP');
      await logged(/"level":"error"[^\n]*"event":"reload"[^\n]*the configuration in use stays as it was/);
      assert.equal((await srv.admin('GET', '/users', undefined, fresh)).status, 200);
      // Another setting changed: applied at the next restart, and said.
      cfg.session = { timeout: '1h' };
      cfg.accounts = { inactive_days: 90 };
      writeFileSync(srv.configPath, JSON.stringify(cfg), { mode: 0o600 });
      srv.proc.kill('SIGHUP');
      await logged(/settings other than admin\.tokens changed \(session, accounts\); they take effect at the next restart/);
      assert.equal((await fetch(`${srv.issuer}/healthz`)).status, 200);
      // A file it names fails its check (a blocklist moved away): the
      // tokens still apply, and an error line says a restart would refuse.
      const third = randomBytes(32).toString('base64url');
      cfg.admin.tokens = [cfg.admin.tokens[0], { name: 'e2e-admin-3', role: 'admin', sha256: sha(third) }];
      cfg.passwords = { ...(cfg.passwords ?? {}), blocklist_file: `${srv.configPath}.no-such-list` };
      writeFileSync(srv.configPath, JSON.stringify(cfg), { mode: 0o600 });
      srv.proc.kill('SIGHUP');
      await logged(/"level":"error"[^\n]*"event":"reload"[^\n]*passwords\.blocklist_file: [^\n]*no-such-list: [^\n]*a restart would refuse the configuration/);
      assert.equal((await srv.admin('GET', '/users', undefined, fresh)).status, 401, 'the removed token is refused');
      assert.equal((await srv.admin('GET', '/users', undefined, third)).status, 200);
      assert.match(srv.stderr(), /the files the configuration names \(the password blocklist\) are read at start only/);
      // A role raised in place: a change, with the role it had.
      cfg.admin.tokens[1] = { ...cfg.admin.tokens[1], role: 'superadmin' };
      delete cfg.passwords.blocklist_file;
      writeFileSync(srv.configPath, JSON.stringify(cfg), { mode: 0o600 });
      srv.proc.kill('SIGHUP');
      await logged(/"action":"admin_token\.change"/);
      const raised = (await srv.admin('GET', '/audit?action=admin_token.change&limit=1')).json.events[0];
      assert.deepEqual([raised.target, raised.detail], ['e2e-admin-3', { role: 'superadmin', was_role: 'admin', new_token: false }]);
    } finally {
      assert.deepEqual(await srv.stop(), { code: 0, sig: null });
    }
  });

  test('SIGTERM: sign-ins under way finish, idle connections do not hold the stop', { timeout: 60000 }, async () => {
    const srv = await startServer({ store: STORE, argon2id: { m_kib: 65536, t: 6, p: 1 } });
    try {
      const s = await seed(srv, { user: 'leaving' });
      const config = await client.discovery(new URL(srv.issuer), s.clientId, undefined,
        client.ClientSecretBasic(s.clientSecret), { execute: [client.allowInsecureRequests] });
      // One user each: checks of one user take turns, these run side by side.
      const users = [];
      for (let i = 0; i < 8; i++) {
        const u = await srv.admin('POST', '/users', { username: `leaving${i}`, password: s.password });
        assert.equal(u.status, 201, u.text);
        await srv.admin('POST', `/policies/sso-leaving/assign`, { user: `leaving${i}` });
        users.push(`leaving${i}`);
      }
      const opened = [];
      // Enough costly checks to keep both work-queue threads busy for a
      // second or more after the signal, on a fast machine too; few
      // enough that the queue takes them all on a loaded one (it holds
      // what its threads check in 5 s, by the time one check took when
      // the server started).
      for (let i = 0; i < 8; i++) {
        const browser = new Browser();
        const url = client.buildAuthorizationUrl(config, {
          redirect_uri: REDIRECT, scope: 'openid',
          code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
          code_challenge_method: 'S256', state: client.randomState(),
        });
        opened.push({ browser, fields: (await openAuthorize(browser, srv.issuer, url.href)).fields });
      }
      // The connection that opened the forms stays open, idle, meanwhile.
      const posts = opened.map(({ browser, fields }, i) => browser.post(
        `${srv.issuer}/login`, { ...fields, username: users[i], password: s.password })
        .then((r) => Object.assign(r, { at: Date.now() })));
      // The signal comes once every sign-in is in the server (its
      // headers read), however slow the machine: the scrape is the ninth.
      let inFlight = 0;
      for (let i = 0; i < 200 && inFlight < 9; i++) {
        const m = await (await fetch(`${srv.issuer}/metrics`)).text();
        inFlight = Number(/^authflow_http_requests_in_flight (\d+)$/m.exec(m)[1]);
        if (inFlight < 9) await new Promise((res) => setTimeout(res, 25));
      }
      assert.ok(inFlight >= 9, `sign-ins in the server: ${inFlight - 1}`);
      const exited = new Promise((res) => srv.proc.once('exit', (code, sig) => res({ code, sig, at: Date.now() })));
      const t0 = Date.now();
      srv.proc.kill('SIGTERM');
      // A new connection meanwhile is refused at once, not left waiting.
      await new Promise((res) => setTimeout(res, 600));
      const port = Number(new URL(srv.issuer).port);
      const refused = await new Promise((res) => {
        const c = net.connect(port, '127.0.0.1');
        c.once('connect', () => { c.destroy(); res('connected'); });
        c.once('error', (e) => res(e.code));
      });
      assert.equal(refused, 'ECONNREFUSED');
      const answers = await Promise.all(posts);
      assert.deepEqual(answers.map((r) => r.status), answers.map(() => 302),
        'every sign-in under way when the signal came finished');
      // Those answered well after the signal close their connections.
      const late = answers.filter((r) => r.at > t0 + 300);
      assert.ok(late.length > 0, 'some sign-ins were still under way at the signal');
      for (const r of late) assert.equal(r.headers.get('connection'), 'close');
      const ended = await exited;
      assert.deepEqual({ code: ended.code, sig: ended.sig }, { code: 0, sig: null });
      // It stops once the work under way is done (however long that took
      // on a busy machine), not when the 10 s grace for idle connections
      // runs out (a leak check at the exit takes its time too).
      const last = Math.max(...answers.map((r) => r.at));
      assert.ok(ended.at - last < 6000, `stopped ${ended.at - last} ms after the last answer, ${ended.at - t0} ms after the signal`);
    } finally {
      await srv.stop();
    }
  });

  test('a second server on a port in use does not start', async () => {
    const cfg = JSON.parse(readFileSync(server.configPath, 'utf8'));
    cfg.state_dir = mkdtempSync(path.join(os.tmpdir(), 'authflow-e2e-'));
    const file = path.join(cfg.state_dir, 'authflow.json');
    writeFileSync(file, JSON.stringify(cfg), { mode: 0o600 });
    const proc = spawn(path.join(process.env.AUTHFLOW_BIN_DIR, 'authflow'), ['--config', file],
      { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr.on('data', (d) => { stderr += d; });
    const code = await new Promise((res) => {
      const t = setTimeout(() => { proc.kill('SIGKILL'); res('still running'); }, 10000);
      proc.once('exit', (c) => { clearTimeout(t); res(c); });
    });
    // Refused before anything is written: no store, no signing key.
    const left = readdirSync(cfg.state_dir).filter((f) => f !== 'authflow.json');
    rmSync(cfg.state_dir, { recursive: true, force: true });
    assert.deepEqual(left, [], 'the refused start left nothing in state_dir');
    assert.notEqual(code, 0, 'it must not start');
    assert.notEqual(code, 'still running', 'it must not share the port');
    // One line, nothing else (no sanitizer report on the way out).
    assert.match(stderr, /^authflow: [^\n]*\.json: listen: cannot listen on 127\.0\.0\.1 port \d+ \(Address already in use\)\n$/);
    assert.equal(code, 1);
  });

  test('request framing: a body over the cap, two lengths or two types are refused before the body', async () => {
    const port = Number(new URL(server.issuer).port);
    // The first answer on a raw connection, within a second.
    const raw = (text) => new Promise((res) => {
      let got = '';
      const sock = net.connect(port, '127.0.0.1', () => sock.write(text));
      sock.on('data', (d) => { got += d; });
      const done = () => { sock.destroy(); res(got); };
      sock.on('end', done);
      sock.on('error', done);
      setTimeout(done, 1000);
    });
    let r = await raw('POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n'
      + 'Content-Length: 10000000\r\nExpect: 100-continue\r\n\r\n');
    assert.match(r, /^HTTP\/1\.1 413 /, r);
    // In the route's own kind: an OAuth error, the API's JSON, a page.
    const big = 'a='.padEnd(70000, 'x');
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    let res413 = await fetch(`${server.issuer}/token`, { method: 'POST', headers: form, body: big });
    assert.equal(res413.status, 413);
    assert.deepEqual(await res413.json(), { error: 'invalid_request', error_description: 'request body too large' });
    res413 = await fetch(`${server.issuer}/admin/v1/users`, { method: 'POST', headers: form, body: big });
    assert.deepEqual(await res413.json(), { error: 'bad_request', message: 'request body too large' });
    res413 = await fetch(`${server.issuer}/login`, { method: 'POST', headers: form, body: big });
    assert.equal(res413.status, 413);
    assert.match(res413.headers.get('content-type'), /^text\/html/);
    r = await raw('POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n'
      + 'Content-Length: 3\r\nContent-Length: 10\r\n\r\na=b');
    assert.match(r, /^HTTP\/1\.1 400 /, r);
    // Two Content-Types: a body two readers could read two ways.
    r = await raw('POST /admin/v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
      + `Content-Type: text/plain\r\nAuthorization: Bearer ${server.superToken}\r\nContent-Length: 2\r\n\r\n{}`);
    assert.match(r, /^HTTP\/1\.1 400 /, r);
    assert.match(r, /Content-Length or Content-Type given more than once/);
    const res = await fetch(`${server.issuer}/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencodedXYZ' },
      body: 'grant_type=authorization_code&code=x',
    });
    const body = await res.json();
    assert.equal(body.error, 'invalid_request', 'not read as a form');
    // An unreadable query or form: a page for browser pages, JSON for APIs.
    let bad = await fetch(`${server.issuer}/login?flow=%ZZ`);
    assert.equal(bad.status, 400);
    assert.match(bad.headers.get('content-type'), /^text\/html/);
    assert.match(await bad.text(), /Request not understood/);
    bad = await fetch(`${server.issuer}/login`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'flow=%G1',
    });
    assert.equal(bad.status, 400);
    assert.match(bad.headers.get('content-type'), /^text\/html/);
    // The admin API asks for the token first, then reads the rest.
    bad = await fetch(`${server.issuer}/admin/v1/audit?before=%ZZ`);
    assert.equal(bad.status, 401);
    assert.match(bad.headers.get('www-authenticate'), /^Bearer realm="authflow-admin"/);
    bad = await fetch(`${server.issuer}/admin/v1/audit?before=%ZZ`, { headers: { authorization: `Bearer ${server.adminToken}` } });
    assert.equal(bad.status, 400);
    assert.deepEqual(await bad.json(), { error: 'bad_request', message: 'malformed query string' }, 'the API\'s own shape');
    bad = await fetch(`${server.issuer}/token?x=%ZZ`, { method: 'POST' });
    assert.equal((await bad.json()).error, 'invalid_request', 'OAuth endpoints: an OAuth error');
    // Parameters nobody knows are ignored, up to 256 of them; more are
    // refused as what they are.
    const extra = Array.from({ length: 250 }, (_, i) => `p${i}=1`).join('&');
    bad = await fetch(`${server.issuer}/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `grant_type=refresh_token&refresh_token=x&client_id=nobody&client_secret=x&${extra}`,
    });
    assert.equal((await bad.json()).error, 'invalid_client', 'unknown parameters are ignored');
    bad = await fetch(`${server.issuer}/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `grant_type=refresh_token&${extra}&${extra.replaceAll('p', 'q')}`,
    });
    assert.deepEqual(await bad.json(), { error: 'invalid_request', error_description: 'more than 256 parameters in the form body' });
    // libmicrohttpd's own complaints come out as JSON lines too.
    r = await raw('POST /token HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n');
    assert.match(r, /^HTTP\/1\.1 400 /, r);
    for (const line of server.stderr().split('\n').filter(Boolean)) {
      assert.doesNotThrow(() => JSON.parse(line), line);
    }
  });

  test('slow clients: a trickled body meets the time limit, one address the connection cap', { timeout: 60000 }, async () => {
    const srv = await startServer({ store: STORE, logLevel: 'info', limits: { request_timeout_s: 2, connections_per_ip: 3 } });
    try {
      const port = Number(new URL(srv.issuer).port);
      const open = () => new Promise((res) => {
        const sock = net.connect(port, '127.0.0.1', () => res(sock));
        sock.on('error', () => res(sock));
      });
      // A body one byte every 300 ms, never silent for 2 s: cut at 2 s.
      const slow = await open();
      const t0 = Date.now();
      slow.write('POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n');
      const drip = setInterval(() => { if (!slow.destroyed) slow.write('a'); }, 300);
      const closed = await new Promise((res) => {
        slow.on('close', () => res(Date.now() - t0));
        setTimeout(() => res(-1), 8000);
      });
      clearInterval(drip);
      assert.ok(closed > 0 && closed < 5000, `closed after ${closed} ms`);
      // Its access line says what happened.
      await new Promise((res) => setTimeout(res, 200));
      assert.match(srv.stderr(), /"aborted":"the request took longer than limits\.request_timeout_s"/);
      // Three idle connections held: a fourth from the same address is turned away.
      // (The trickled one may still be counted for a moment after its
      // close: one turned away meanwhile is opened again.)
      const track = (sock) => { sock.closedAt = null; sock.on('close', () => { sock.closedAt = Date.now(); }); return sock; };
      const held = [track(await open()), track(await open()), track(await open())];
      for (let tries = 0; tries < 20; tries++) {
        await new Promise((res) => setTimeout(res, 200));
        const gone = held.filter((h) => h.closedAt !== null);
        if (gone.length === 0) break;
        for (const g of gone) held[held.indexOf(g)] = track(await open());
      }
      assert.ok(held.every((h) => h.closedAt === null), 'three connections held');
      const refused = await fetch(`${srv.issuer}/healthz`).then(() => false, () => true);
      assert.ok(refused, 'the fourth connection is refused');
      for (const h of held) h.destroy();
      await new Promise((res) => setTimeout(res, 200));
      assert.equal((await fetch(`${srv.issuer}/healthz`)).status, 200);
    } finally {
      await srv.stop();
    }
  });

  test('a second SIGTERM during the stop ends the process at once', { timeout: 60000 }, async () => {
    const srv = await startServer({ store: STORE });
    const port = Number(new URL(srv.issuer).port);
    // A body trickled in: a request under way, which the stop waits for.
    const sock = net.connect(port, '127.0.0.1');
    sock.on('error', () => {});
    await new Promise((res) => sock.once('connect', res));
    sock.write('POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n'
      + 'Content-Length: 400\r\n\r\nusername=');
    const drip = setInterval(() => sock.write('a'), 200);
    try {
      await new Promise((r) => setTimeout(r, 300));
      const exited = new Promise((res) => srv.proc.once('exit', (code, sig) => res({ code, sig })));
      srv.proc.kill('SIGTERM');
      const first = await Promise.race([exited, new Promise((r) => setTimeout(() => r('waiting'), 1500))]);
      assert.equal(first, 'waiting', 'the first signal waits for the request under way');
      const t0 = Date.now();
      srv.proc.kill('SIGTERM');
      assert.deepEqual(await exited, { code: 1, sig: null });
      assert.ok(Date.now() - t0 < 2000, `stopped ${Date.now() - t0} ms after the second signal`);
      assert.match(srv.stderr(), /"event":"shutdown","msg":"signal=15 again: stopping at once/);
    } finally {
      clearInterval(drip);
      sock.destroy();
      await srv.stop();
    }
  });

  test('requests libmicrohttpd refuses before the handler neither leak nor hold the stop', { timeout: 60000 }, async () => {
    const srv = await startServer({ store: STORE });
    const port = new URL(srv.issuer).port;
    // Thousands of query parameters: over the connection's memory limit.
    const target = `/authorize?${Array.from({ length: 3500 }, () => 'a').join('&')}`;
    await Promise.all(Array.from({ length: 4 }, () => new Promise((res) => {
      const sock = net.connect(Number(port), '127.0.0.1', () => {
        sock.write(`GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`);
        setTimeout(() => { sock.destroy(); res(); }, 300);
      });
      sock.on('error', res);
    })));
    const exited = new Promise((res) => srv.proc.once('exit', (code, sig) => res({ code, sig })));
    const t0 = Date.now();
    srv.proc.kill('SIGTERM');
    // A leak fails the exit status in the sanitizer build.
    assert.deepEqual(await exited, { code: 0, sig: null });
    assert.ok(Date.now() - t0 < 5000, 'no request left counted as under way');
    await srv.stop();
  });
});

describe(`authflow under a sign-in storm (${STORE} store)`, () => {
  test('password checks that waited too long are shed with 503, not run', { timeout: 120000 }, async () => {
    // A costly hash and a 2 s bound: 48 sign-ins at once queue for longer.
    const storm = await startServer({
      store: STORE,
      argon2id: { m_kib: 65536, t: 3, p: 1 },
      limits: { request_timeout_s: 2 },
    });
    try {
      const s = await seed(storm, { user: 'storm' });
      const config = await client.discovery(new URL(storm.issuer), s.clientId, undefined,
        client.ClientSecretBasic(s.clientSecret), { execute: [client.allowInsecureRequests] });
      // A shift change: many people at once, each their own user.
      const users = [];
      for (let i = 0; i < 48; i++) {
        const u = await storm.admin('POST', '/users', { username: `storm${i}`, password: s.password });
        assert.equal(u.status, 201, u.text);
        await storm.admin('POST', '/policies/sso-storm/assign', { user: `storm${i}` });
        users.push(`storm${i}`);
      }
      const opened = [];
      for (let i = 0; i < users.length; i++) {
        const browser = new Browser();
        const url = client.buildAuthorizationUrl(config, {
          redirect_uri: REDIRECT, scope: 'openid',
          code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
          code_challenge_method: 'S256', state: client.randomState(),
        });
        const o = await openAuthorize(browser, storm.issuer, url.href);
        assert.ok(o.fields, 'the login form');
        opened.push({ browser, fields: o.fields });
      }
      // Malformed forms go through the queue too, refused in no time:
      // they must not teach it that checks are quick.
      for (let i = 0; i < 64; i++) {
        const junk = await fetch(`${storm.issuer}/login`, {
          method: 'POST', body: 'a=%zz',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        });
        assert.equal(junk.status, 400);
        await junk.arrayBuffer();
      }
      const answers = await Promise.all(opened.map(async ({ browser, fields }, i) => {
        const t0 = Date.now();
        const r = await browser.post(`${storm.issuer}/login`, { ...fields, username: users[i], password: s.password });
        return Object.assign(r, { ms: Date.now() - t0 });
      }));
      const ok = answers.filter((r) => r.status === 302);
      const busy = answers.filter((r) => r.status === 503);
      assert.equal(ok.length + busy.length, answers.length,
        `only 302 and 503: ${answers.map((r) => r.status).join(' ')}`);
      assert.ok(ok.length > 0, 'some sign-ins went through');
      assert.ok(busy.length > 0, 'some sign-ins were shed');
      // Those past what the queue can check in time are told at once, not
      // after waiting the whole request_timeout_s in it.
      assert.ok(busy.some((r) => r.ms < 1000), `busy answers at once: ${busy.map((r) => r.ms).join(' ')}`);
      for (const r of busy) {
        assert.equal(r.headers.get('retry-after'), '5');
        assert.equal(r.headers.get('keep-alive'), 'timeout=2');
        assert.match(r.text, /very busy/);
        // The form again, for the same sign-in: the flow was left as it was.
        assert.ok(hiddenFields(r.text).flow, 'the login form is shown again');
      }
      const shed = (await (await fetch(`${storm.issuer}/metrics`)).text())
        .match(/^authflow_logins_total\{outcome="busy"\} (\d+)$/m);
      assert.ok(shed, 'the busy outcome is counted');
      assert.equal(Number(shed[1]), busy.length);
      // Once the storm is over, a shed sign-in goes through as it is.
      const again = opened[answers.indexOf(busy[0])];
      const r = await again.browser.post(`${storm.issuer}/login`,
        { ...hiddenFields(busy[0].text), username: users[answers.indexOf(busy[0])], password: s.password });
      assert.equal(r.status, 302, r.text);
    } finally {
      await storm.stop();
    }
  });

  test('a wrong-password flood: a throttled address is told 429 at once, and a known browser goes ahead of the queue', { timeout: 180000 }, async () => {
    const storm = await startServer({
      store: STORE,
      argon2id: { m_kib: 65536, t: 3, p: 1 },
      limits: { request_timeout_s: 2 },
      listen: { trusted_proxies: ['127.0.0.0/8'] },
    });
    try {
      const s = await seed(storm, { user: 'flooded' });
      const config = await discover(storm, s);
      const url = async (extra = {}) => (await authUrl(config, extra)).url.href;
      // The user's own browser, known to the user from a sign-in.
      const mine = new Browser({ 'x-forwarded-for': '10.7.0.1' });
      assert.equal((await signIn(mine, storm.issuer, await url(), s.user, s.password)).status, 302);
      // Forms opened from one address and from 96 others.
      const forms = async (n, addr) => Promise.all(Array.from({ length: n }, async (_, i) => {
        const b = new Browser({ 'x-forwarded-for': addr(i) });
        const o = await openAuthorize(b, storm.issuer, await url());
        assert.ok(o.fields, 'the login form');
        return { b, fields: o.fields };
      }));
      const post = async ({ b, fields }, username, password) => {
        const t0 = Date.now();
        const r = await b.post(`${storm.issuer}/login`, { ...fields, username, password });
        return Object.assign(r, { ms: Date.now() - t0 });
      };
      // One address runs into its delay (past 20 failures) ...
      const one = await forms(120, () => '10.8.0.1');
      for (let i = 0; i < 21; i++) await post(one[i], `sprayed${i}`, 'wrong password');
      const after = await post(one[21], 'sprayed21', 'wrong password');
      assert.equal(after.status, 429, 'the address waits');
      // Each failure past the limit doubles the wait: two more, each once
      // the wait before it ran out, make it four seconds, which the burst
      // below fits in on a slow machine too.
      for (const [i, ms] of [[22, 1100], [23, 2100]]) {
        await new Promise((res) => setTimeout(res, ms));
        assert.equal((await post(one[i], `sprayed${i}`, 'wrong password')).status, 401);
      }
      // ... and a burst from it is told so at once: no password is
      // checked, so nothing waits in the queue and nothing is "busy".
      const burst = await Promise.all(one.slice(24).map((f, i) => post(f, `sprayed${24 + i}`, 'wrong password')));
      assert.deepEqual([...new Set(burst.map((r) => r.status))], [429]);
      assert.ok(burst.every((r) => r.ms < 1500), `told at once: ${burst.map((r) => r.ms).join(' ')}`);
      // 96 addresses at once fill the queue; the known browser's sign-in,
      // sent once they wait, goes ahead of them.
      const many = await forms(96, (i) => `10.9.${i >> 8}.${i & 255}`);
      const o = await openAuthorize(mine, storm.issuer, await url({ prompt: 'login' }));
      assert.ok(o.fields, 'the login form again');
      const flood = Promise.all(many.map((f, i) => post(f, `other${i}`, 'wrong password')));
      await new Promise((res) => setTimeout(res, 300));
      const real = await post({ b: mine, fields: o.fields }, s.user, s.password);
      const flooded = await flood;
      assert.ok(flooded.some((r) => r.status === 503), `the queue was full: ${flooded.map((r) => r.status).join(' ')}`);
      assert.equal(real.status, 302, real.text);
      assert.ok(new URL(real.location).searchParams.get('code'));
      assert.ok(real.ms < 2000, `the known browser waited ${real.ms} ms`);
    } finally {
      await storm.stop();
    }
  });

  test('at a hash cost below a signature, password checks run inline and all go through', { timeout: 60000 }, async () => {
    // Argon2's least cost: the checks run on the server's own threads.
    const cheap = await startServer({ store: STORE, argon2id: { m_kib: 8, t: 1, p: 1 } });
    try {
      const s = await seed(cheap, { user: 'cheap' });
      const config = await client.discovery(new URL(cheap.issuer), s.clientId, undefined,
        client.ClientSecretBasic(s.clientSecret), { execute: [client.allowInsecureRequests] });
      const flows = await Promise.all(Array.from({ length: 32 }, async () => {
        const browser = new Browser();
        const verifier = client.randomPKCECodeVerifier();
        const state = client.randomState();
        const url = client.buildAuthorizationUrl(config, {
          redirect_uri: REDIRECT, scope: 'openid',
          code_challenge: await client.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256', state,
        });
        const r = await signIn(browser, cheap.issuer, url.href, s.user, s.password);
        return { r, verifier, state };
      }));
      const subs = new Set();
      for (const f of flows) {
        assert.equal(f.r.status, 302, f.r.text);
        const t = await client.authorizationCodeGrant(config, new URL(f.r.location),
          { pkceCodeVerifier: f.verifier, expectedState: f.state });
        subs.add(t.claims().sub);
      }
      assert.equal(subs.size, 1, 'one user, one subject');
      // And a wrong password is still refused, with the form again.
      const other = new Browser();
      const o = await openAuthorize(other, cheap.issuer, client.buildAuthorizationUrl(config, {
        redirect_uri: REDIRECT, scope: 'openid', state: client.randomState(),
        code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
        code_challenge_method: 'S256',
      }).href);
      const bad = await other.post(`${cheap.issuer}/login`, { ...o.fields, username: s.user, password: 'wrong' });
      assert.equal(bad.status, 401);
      assert.match(bad.text, /name="password"/);
      const m = (await (await fetch(`${cheap.issuer}/metrics`)).text())
        .match(/^authflow_logins_total\{outcome="ok"\} (\d+)$/m);
      assert.ok(m, 'successful sign-ins are counted');
      assert.equal(Number(m[1]), 32);
    } finally {
      await cheap.stop();
    }
  });
});

describe(`authflow against one noisy address (${STORE} store)`, () => {
  // Signs in through a browser sending headers (a proxy's, say);
  // returns the answer of POST /login.
  async function attempt(s, headers, user, password) {
    const config = await client.discovery(new URL(s.issuer), s.clientId, undefined,
      client.ClientSecretBasic(s.clientSecret), { execute: [client.allowInsecureRequests] });
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT, scope: 'openid', state: client.randomState(),
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    return signIn(new Browser(headers), s.issuer, url.href, user, password);
  }

  test('memory store at its cap: new sign-ins stop first, one already at the form finishes, health says so', { skip: STORE !== 'memory', timeout: 120000 }, async () => {
    const srv = await startServer({ store: 'memory', storeOptions: { max_mb: 16 }, limits: { flows_per_ip: 0 } });
    try {
      const s = { ...(await seed(srv, { user: 'cap' })), issuer: srv.issuer };
      const config = await client.discovery(new URL(s.issuer), s.clientId, undefined,
        client.ClientSecretBasic(s.clientSecret), { execute: [client.allowInsecureRequests] });
      const a = client.buildAuthorizationUrl(config, {
        redirect_uri: REDIRECT, scope: 'openid', state: 'x'.repeat(2000),
        code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
        code_challenge_method: 'S256',
      }).href;
      // One person reaches the form before the flood.
      const early = new Browser();
      const o = await openAuthorize(early, s.issuer, a);
      assert.ok(o.fields.flow);
      // Sign-ins begun and never finished, 16 at a time, until refused.
      let begun = 0;
      let refused = null;
      while (!refused && begun < 20000) {
        const rs = await Promise.all(Array.from({ length: 16 }, () => fetch(a, { redirect: 'manual' })));
        for (const r of rs) {
          const text = await r.text();
          if (r.status === 503) refused = text;
          else assert.equal(r.status, 200, 'the sign-in form');
        }
        begun += rs.length;
      }
      assert.ok(refused, `no refusal after ${begun} sign-ins begun`);
      assert.match(refused, /cannot start a sign-in just now/);
      assert.ok(begun > 2000, `refused after only ${begun}`);
      // The one at the form still signs in: its code and session fit.
      const r = await early.post(`${s.issuer}/login`, { ...o.fields, username: s.user, password: s.password });
      assert.equal(r.status, 302, r.text);
      assert.ok(new URL(r.location).searchParams.get('code'));
      // Health says so; users, apps and the admin API still work.
      await healthWithin(s.issuer, 503);
      assert.equal((await srv.admin('POST', '/users', { username: 'after', password: 'after-password' })).status, 201);
      await new Promise((res) => setTimeout(res, 300));
      assert.match(srv.stderr(), /the store is full: it holds \d+ MiB of its 16 MiB cap \(store.max_mb\); new sign-ins/);
    } finally {
      await srv.stop();
    }
  });

  test('the log joins a sign-in\'s code, its tokens and its session, with the addresses', async () => {
    const srv = await startServer({ store: STORE, logLevel: 'info', listen: { trusted_proxies: ['127.0.0.0/8'] } });
    try {
      const s = { ...(await seed(srv, { user: 'lorna' })), issuer: srv.issuer };
      const config = await client.discovery(new URL(s.issuer), s.clientId, undefined,
        client.ClientSecretBasic(s.clientSecret), { execute: [client.allowInsecureRequests] });
      const verifier = client.randomPKCECodeVerifier();
      const url = async (extra = {}) => client.buildAuthorizationUrl(config, {
        redirect_uri: REDIRECT, scope: 'openid', state: 'st',
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256', ...extra,
      }).href;
      const xff = (ip) => ({ 'x-forwarded-for': `${ip}, 127.0.0.1` });
      const browser = new Browser(xff('198.51.100.7'));
      const o = await openAuthorize(browser, s.issuer, await url());
      const r = await browser.post(`${s.issuer}/login`, { ...o.fields, username: s.user, password: s.password });
      assert.equal(r.status, 302, r.text);
      const tokens = await client.authorizationCodeGrant(config, new URL(r.location),
        { pkceCodeVerifier: verifier, expectedState: 'st' });
      const sid = tokens.claims().sid;
      assert.ok(sid);
      // The session cookie used again from elsewhere: a code at once.
      browser.headers = xff('203.0.113.9');
      const again = await browser.get(await url());
      assert.equal(again.status, 302);
      assert.ok(new URL(again.location).searchParams.get('code'));
      const lines = srv.stderr().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
      const issued = lines.filter((l) => l.event === 'code_issued' && l.user === 'lorna');
      assert.deepEqual(issued.map((l) => [l.client, l.sid, l.sso, l.ip]),
        [[s.clientId, sid, '0', '198.51.100.7'], [s.clientId, sid, '1', '203.0.113.9']]);
      const login = lines.find((l) => l.event === 'login' && l.user === 'lorna' && l.outcome === 'ok');
      assert.equal(login.rid, issued[0].rid, 'the sign-in and its code share a request id');
      const token = lines.find((l) => l.event === 'token' && l.user === 'lorna');
      assert.equal(token.outcome, 'ok');
      assert.equal(token.sid, sid);
      assert.equal(token.ip, '127.0.0.1');
      assert.equal(token.client, s.clientId);
    } finally {
      await srv.stop();
    }
  });

  test('known browser: a delay run up by others does not hold up the user\'s own browser', { timeout: 60000 }, async () => {
    const srv = await startServer({ store: STORE, logLevel: 'info', listen: { trusted_proxies: ['127.0.0.0/8'] } });
    try {
      const s = { ...(await seed(srv, { user: 'kira' })), issuer: srv.issuer };
      const config = await client.discovery(new URL(s.issuer), s.clientId, undefined,
        client.ClientSecretBasic(s.clientSecret), { execute: [client.allowInsecureRequests] });
      const url = async (extra = {}) => client.buildAuthorizationUrl(config, {
        redirect_uri: REDIRECT, scope: 'openid', state: client.randomState(),
        code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
        code_challenge_method: 'S256', ...extra,
      }).href;
      const xff = (ip) => ({ 'x-forwarded-for': `${ip}, 127.0.0.1` });
      const post = (b, o, user, password) => b.post(`${s.issuer}/login`, { ...o.fields, username: user, password });
      const mine = new Browser(xff('198.51.100.7'));
      // Only a whole sign-in makes a browser known: a wrong password does not.
      let o = await openAuthorize(mine, s.issuer, await url());
      let r = await post(mine, o, s.user, 'wrong-0');
      assert.equal(r.status, 401);
      assert.ok(!setCookies(r.headers).some((c) => c.startsWith('af_known=')));
      r = await post(mine, o, s.user, s.password);
      assert.equal(r.status, 302, r.text);
      const known = setCookies(r.headers).find((c) => c.startsWith('af_known='));
      assert.ok(known, 'known-browser cookie set');
      assert.match(known, /^af_known=[A-Za-z0-9_-]{32};/, 'one opaque entry, no name in it');
      assert.match(known, /HttpOnly/);
      assert.match(known, /Max-Age=15552000/, '180 days by default');
      // Someone who knows only the name runs up the delay from elsewhere.
      const other = new Browser(xff('203.0.113.9'));
      const oo = await openAuthorize(other, s.issuer, await url());
      for (let i = 1; i <= 5; i++) assert.equal((await post(other, oo, s.user, `wrong-${i}`)).status, 401);
      assert.equal((await post(other, oo, 'KIRA', s.password)).status, 429, 'every other browser waits');
      // Logged under the user's own spelling, whatever the case typed.
      const held = srv.stderr().split('\n').filter((l) => l.includes('"outcome":"throttled"')).map((l) => JSON.parse(l));
      assert.deepEqual(held.map((l) => [l.event, l.user, l.ip]), [['login', 'kira', '203.0.113.9']]);
      // The user's own browser does not, from any address.
      mine.headers = xff('192.0.2.200');
      o = await openAuthorize(mine, s.issuer, await url({ prompt: 'login' }));
      r = await post(mine, o, s.user, s.password);
      assert.equal(r.status, 302, r.text);
      assert.ok(new URL(r.location).searchParams.get('code'));
      // Its own failures hold it up, and nobody else.
      o = await openAuthorize(mine, s.issuer, await url({ prompt: 'login' }));
      for (let i = 0; i < 5; i++) assert.equal((await post(mine, o, s.user, `wrong-${i}`)).status, 401);
      assert.equal((await post(mine, o, s.user, s.password)).status, 429, 'a known browser waits after its own failures');
      // The user's count is the five from elsewhere, which the sign-in in
      // the user's own browser did not clear: other browsers still wait.
      const shown = await srv.admin('GET', `/users/${s.user}`);
      assert.equal(shown.json.browsers_locked, 0, 'delayed, not locked');
      assert.equal(shown.json.locked, false);
      assert.equal(shown.json.failed_signins, 5, 'the known browser\'s failures are its own');
      // The one-second wait of the fifth may have run out by now: one more
      // failure from elsewhere, counted as the sixth, begins one of two.
      await new Promise((res) => setTimeout(res, 1100));
      r = await signIn(new Browser(xff('192.0.2.203')), s.issuer, await url(), s.user, 'wrong-6');
      assert.equal(r.status, 401, r.text);
      r = await signIn(new Browser(xff('192.0.2.201')), s.issuer, await url(), s.user, s.password);
      assert.equal(r.status, 429, r.text);
      // A cookie taken to another user's name proves nothing there.
      const t = { ...(await seed(srv, { user: 'kirb' })), issuer: srv.issuer };
      const thief = new Browser(xff('203.0.113.10'));
      thief.jar.set('af_known', mine.jar.get('af_known'));
      for (let i = 0; i < 5; i++) assert.equal((await attempt(t, xff('203.0.113.10'), t.user, `wrong-${i}`)).status, 401);
      assert.equal((await attempt(t, xff('192.0.2.202'), t.user, t.password)).status, 429, 'kirb waits');
      // A name no user has is often a password typed in the wrong field:
      // logged by a keyed MAC of it, never as typed, nor as a plain
      // digest that a guess could be checked against.
      assert.equal((await attempt(t, xff('198.51.100.77'), 'Secret-Pass-9173', 'x')).status, 401);
      await new Promise((res) => setTimeout(res, 200));
      assert.doesNotMatch(srv.stderr(), /Secret-Pass-9173/);
      const unknown = srv.stderr().split('\n').filter((l) => l.includes('"ip":"198.51.100.77"') && l.includes('"event":"login"'))
        .map((l) => JSON.parse(l));
      assert.equal(unknown.length, 1);
      assert.match(unknown[0].user, /^unknown:[0-9a-f]{12}$/);
      assert.notEqual(unknown[0].user, plainDigest('Secret-Pass-9173'));
      // Nor when it is delayed: refused unchecked, it is logged the same.
      for (let i = 0; i < 5; i++) {
        assert.equal((await attempt(t, xff(`198.51.100.${80 + i}`), 'Summer-Pass-2024', 'x')).status, 401);
      }
      assert.equal((await attempt(t, xff('198.51.100.90'), 'Summer-Pass-2024', 'x')).status, 429);
      await new Promise((res) => setTimeout(res, 200));
      assert.doesNotMatch(srv.stderr(), /Summer-Pass-2024/);
      const delayed = srv.stderr().split('\n').filter((l) => l.includes('"ip":"198.51.100.90"') && l.includes('"event":"login"'))
        .map((l) => JSON.parse(l));
      assert.deepEqual(delayed.map((l) => l.outcome), ['throttled']);
      assert.match(delayed[0].user, /^unknown:[0-9a-f]{12}$/);
      assert.notEqual(delayed[0].user, plainDigest('Summer-Pass-2024'));
      assert.notEqual(delayed[0].user, unknown[0].user, 'two names, two tags');
      // Every try of one name is logged under the same tag.
      const tries = srv.stderr().split('\n').filter((l) => /"ip":"198\.51\.100\.8[0-4]"/.test(l) && l.includes('"event":"login"'))
        .map((l) => JSON.parse(l).user);
      assert.equal(tries.length, 5);
      assert.deepEqual([...new Set(tries)], [delayed[0].user]);
      const lines = srv.stderr().split('\n').filter((l) => l.includes('"event":"login"')).map((l) => JSON.parse(l));
      const mineFailed = lines.filter((l) => l.outcome === 'bad_credentials' && l.ip === '192.0.2.200');
      assert.equal(mineFailed.length, 5);
      assert.ok(mineFailed.every((l) => l.user === s.user), 'a user\'s own name is logged as it is');
      assert.ok(mineFailed.every((l) => l.msg === 'known_browser=1'), JSON.stringify(mineFailed[0]));
      const otherFailed = lines.filter((l) => l.outcome === 'bad_credentials' && l.ip === '203.0.113.9');
      assert.ok(otherFailed.every((l) => l.msg === undefined), JSON.stringify(otherFailed[0]));
    } finally {
      await srv.stop();
    }
  });

  test('behind a trusted proxy each client address is counted apart; elsewhere the header is not believed', { timeout: 120000 }, async () => {
    const xff = (ip) => ({ 'x-forwarded-for': `${ip}, 127.0.0.1` });
    for (const trusted of [true, false]) {
      const srv = await startServer({
        store: STORE, logLevel: 'info',
        listen: trusted ? { trusted_proxies: ['127.0.0.0/8'] } : {},
      });
      try {
        const s = { ...(await seed(srv, { user: 'pat' })), issuer: srv.issuer };
        // 20 wrong passwords from one address, each for another name.
        for (let i = 0; i < 20; i++) {
          const r = await attempt(s, xff('203.0.113.7'), `nobody${i}`, 'wrong');
          assert.equal(r.status, 401, r.text);
        }
        const same = await attempt(s, xff('203.0.113.7'), s.user, s.password);
        assert.equal(same.status, 429, 'that address now waits');
        const other = await attempt(s, xff('198.51.100.9'), s.user, s.password);
        if (trusted) {
          assert.equal(other.status, 302, 'another client behind the proxy does not');
          assert.match(srv.stderr(), /"ip":"203\.0\.113\.7"|ip=203\.0\.113\.7/);
        } else {
          // Without trusted proxies the header is anyone's to write.
          assert.equal(other.status, 429, 'one address: the connection\'s');
          assert.doesNotMatch(srv.stderr(), /203\.0\.113\.7/);
        }
      } finally {
        await srv.stop();
      }
    }
  });

  test('memory store: one address may fill only a share of the store with sign-ins begun', { skip: STORE !== 'memory', timeout: 120000 }, async () => {
    const srv = await startServer({ store: 'memory', storeOptions: { max_mb: 16 }, logLevel: 'info', listen: { trusted_proxies: ['127.0.0.0/8'] } });
    try {
      const s = { ...(await seed(srv, { user: 'share' })), issuer: srv.issuer };
      const config = await client.discovery(new URL(s.issuer), s.clientId, undefined,
        client.ClientSecretBasic(s.clientSecret), { execute: [client.allowInsecureRequests] });
      const a = client.buildAuthorizationUrl(config, {
        redirect_uri: REDIRECT, scope: 'openid', state: 'x'.repeat(2000),
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
      }).href;
      const from = (addr) => fetch(a, { redirect: 'manual', headers: { 'x-forwarded-for': addr } });
      let begun = 0;
      let over = null;
      while (!over && begun < 5000) {
        const rs = await Promise.all(Array.from({ length: 16 }, () => from('10.3.0.1')));
        for (const r of rs) {
          await r.text();
          if (r.status === 429) over = r;
          else { assert.equal(r.status, 200, 'the sign-in form'); begun++; }
        }
      }
      assert.ok(over, `no refusal after ${begun} sign-ins begun`);
      // 5% of 16 MiB in flows of about 2.2 KB: a few hundred, far below
      // limits.flows_per_ip, and far below what the store holds.
      assert.ok(begun > 200 && begun < 600, `refused after ${begun}`);
      assert.ok(Number(over.headers.get('retry-after')) > 0);
      const line = srv.stderr().split('\n').find((l) => l.includes('too_many_flows'));
      assert.match(line, /of the store's cap/);
      // Another address begins its sign-in; the store is not full.
      assert.equal((await from('10.3.0.2')).status, 200);
      assert.equal((await fetch(`${srv.issuer}/healthz`)).status, 200);
    } finally {
      await srv.stop();
    }
  });

  test('sign-ins begun per address are capped; the access log cuts long paths', { timeout: 60000 }, async () => {
    const srv = await startServer({ store: STORE, logLevel: 'info', limits: { flows_per_ip: 5 } });
    try {
      const s = { ...(await seed(srv, { user: 'quinn' })), issuer: srv.issuer };
      const config = await client.discovery(new URL(s.issuer), s.clientId, undefined,
        client.ClientSecretBasic(s.clientSecret), { execute: [client.allowInsecureRequests] });
      const url = () => client.buildAuthorizationUrl(config, {
        redirect_uri: REDIRECT, scope: 'openid', state: client.randomState(),
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
      }).href;
      for (let i = 0; i < 5; i++) {
        const r = await new Browser().get(url());
        assert.ok(isLoginForm(r), `${r.status} ${r.location}`);
      }
      const over = await new Browser().get(url());
      assert.equal(over.status, 429);
      assert.ok(Number(over.headers.get('retry-after')) > 0);
      assert.equal(over.headers.get('set-cookie'), null, 'no flow began');
      assert.equal((srv.stderr().match(/too_many_flows/g) ?? []).length, 1, 'one log line, not one per refusal');
      // A 6 KB path is logged as its first 512 bytes.
      const long = `/${'long-path'.repeat(667)}`;
      assert.equal((await fetch(`${srv.issuer}${long}`)).status, 404);
      await new Promise((res) => setTimeout(res, 200));
      const line = srv.stderr().split('\n').find((l) => l.includes('long-pathlong-path'));
      assert.ok(line, 'the request is logged');
      assert.ok(line.length < 1000, `a short line: ${line.length} bytes`);
      assert.match(line, /long-path[a-z-]*\.\.\./);
    } finally {
      await srv.stop();
    }
  });

  test('codes issued at once on a session are capped per user and count toward the address\' sign-ins', { timeout: 60000 }, async () => {
    const urlOf = async (s) => (await authUrl(await discover(s, s), { state: 'st8' })).url.href;
    const answer = (r) => {
      assert.equal(r.status, 302, r.text);
      const q = new URL(r.location).searchParams;
      return q.get('code') ? 'code' : `${q.get('error')}: ${q.get('error_description')} (${q.get('state')}, ${q.get('iss')})`;
    };
    const srv = await startServer({ store: STORE, logLevel: 'info', limits: { codes_per_user: 3, flows_per_ip: 0 } });
    try {
      const s = { ...(await seed(srv, { user: 'codey' })), issuer: srv.issuer };
      const t = { ...(await seed(srv, { user: 'codez' })), issuer: srv.issuer };
      const b = new Browser();
      const url = await urlOf(s);
      assert.equal(answer(await signIn(b, srv.issuer, url, s.user, s.password)), 'code');
      assert.equal(answer(await b.get(url)), 'code');
      assert.equal(answer(await b.get(url)), 'code');
      // The fourth in a minute goes back to the application as an error.
      for (let i = 0; i < 3; i++) {
        assert.equal(answer(await b.get(url)),
          `temporarily_unavailable: too many sign-ins to applications by this user in the last minute (st8, ${srv.issuer})`);
      }
      assert.equal((srv.stderr().match(/"too_many_codes"/g) ?? []).length, 1, 'one log line, not one per refusal');
      // Another user is not held back.
      const c = new Browser();
      const url2 = await urlOf(t);
      assert.equal(answer(await signIn(c, srv.issuer, url2, t.user, t.password)), 'code');
      assert.equal(answer(await c.get(url2)), 'code');
    } finally {
      await srv.stop();
    }
    const srv2 = await startServer({ store: STORE, limits: { codes_per_user: 0, flows_per_ip: 3 } });
    try {
      const s = { ...(await seed(srv2, { user: 'codey' })), issuer: srv2.issuer };
      const b = new Browser();
      const url = await urlOf(s);
      assert.equal(answer(await signIn(b, srv2.issuer, url, s.user, s.password)), 'code');
      assert.equal(answer(await b.get(url)), 'code');
      assert.equal(answer(await b.get(url)), 'code');
      assert.equal(answer(await b.get(url)),
        `temporarily_unavailable: too many sign-ins from this network in the last few minutes (st8, ${srv2.issuer})`);
      // A sign-in begun is refused as well: the same count.
      assert.equal((await new Browser().get(url)).status, 429);
    } finally {
      await srv2.stop();
    }
    // A user past the cap adds nothing to the address' count: another
    // user at that address still signs in.
    const srv3 = await startServer({
      store: STORE, limits: { codes_per_user: 2, flows_per_ip: 4 }, listen: { trusted_proxies: ['127.0.0.0/8'] },
    });
    try {
      const s = { ...(await seed(srv3, { user: 'codey' })), issuer: srv3.issuer };
      const t = { ...(await seed(srv3, { user: 'codez' })), issuer: srv3.issuer };
      const at = { 'x-forwarded-for': '10.44.0.1' };
      const b = new Browser(at);
      const url = await urlOf(s);
      assert.equal(answer(await signIn(b, srv3.issuer, url, s.user, s.password)), 'code');
      assert.equal(answer(await b.get(url)), 'code');
      for (let i = 0; i < 10; i++) {
        assert.match(answer(await b.get(url)), /by this user/);
      }
      const c = new Browser(at);
      const url2 = await urlOf(t);
      assert.equal(answer(await signIn(c, srv3.issuer, url2, t.user, t.password)), 'code');
      assert.equal(answer(await c.get(url2)), 'code');
      assert.match(answer(await c.get(url2)), /by this user/);
    } finally {
      await srv3.stop();
    }
  });

  test('a refused state too long to send back gets an error page, not a redirect without it', async () => {
    const s = await seed(server, { user: 'ruth' });
    const config = await rp(s);
    const body = new URLSearchParams({
      response_type: 'code', client_id: s.clientId, redirect_uri: REDIRECT, scope: 'openid',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
      state: 's'.repeat(20000),
    });
    assert.ok(config);
    const r = await fetch(`${server.issuer}/authorize`, {
      method: 'POST', redirect: 'manual', body,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(r.status, 400);
    assert.equal(r.headers.get('location'), null);
    assert.match(await r.text(), /state parameter is too long/);
  });

  test('a throttled sign-in is logged with user, address and outcome; access lines carry the client address', { timeout: 60000 }, async () => {
    const srv = await startServer({ store: STORE, logLevel: 'info', listen: { trusted_proxies: ['127.0.0.0/8'] } });
    try {
      const s = { ...(await seed(srv, { user: 'tess' })), issuer: srv.issuer };
      const via = { 'x-forwarded-for': '203.0.113.44, 127.0.0.1' };
      // Past 20 failures from one address each try from it waits.
      for (let i = 0; i < 20; i++) {
        const r = await attempt(s, via, `nobody${i}`, 'wrong');
        assert.equal(r.status, 401, r.text);
      }
      // Three tries inside the one-second wait the 20th failure began,
      // back to back; their log lines are read afterwards.
      // A name that tries to pass for other fields of the line.
      const name = 'x" ip=192.0.2.1 outcome=ok';
      assert.equal((await attempt(s, via, name, 'wrong')).status, 429);
      // The same client as a dual-stack proxy writes it, IPv4-mapped.
      const mapped = { 'x-forwarded-for': '::ffff:203.0.113.44, 127.0.0.1' };
      assert.equal((await attempt(s, mapped, s.user, s.password)).status, 429, 'the same address');
      // A long typed name no user has: its digest, none of it as typed.
      const long = `z${'\u20ac'.repeat(100)}`;
      assert.equal((await attempt(s, via, long, 'wrong')).status, 429);
      await new Promise((res) => setTimeout(res, 200));
      const lines = srv.stderr().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
      const throttled = lines.filter((l) => l.event === 'login' && l.outcome === 'throttled');
      assert.equal(throttled.length, 3, srv.stderr());
      // User, address and outcome are fields of their own; a name no
      // user has (often a password in the wrong field) is logged by its
      // keyed MAC, even when refused before any check.
      assert.match(throttled[0].user, /^unknown:[0-9a-f]{12}$/);
      assert.notEqual(throttled[0].user, plainDigest(name));
      assert.doesNotMatch(srv.stderr(), /ip=192\.0\.2\.1/);
      assert.equal(throttled[0].ip, '203.0.113.44');
      assert.match(throttled[0].msg, /^wait_s=[1-9]\d*$/);
      assert.equal(lines.filter((l) => l.event === 'login' && l.outcome === 'ok').length, 0);
      // Its access line, and every other of the sign-ins, name the client.
      const access = lines.find((l) => l.event === 'http' && l.rid === throttled[0].rid);
      assert.ok(access, 'the throttled request has an access line');
      assert.equal(access.status, '429');
      assert.equal(access.path, '/login');
      assert.equal(access.ip, '203.0.113.44');
      // Each attempt: /authorize (the form) and POST /login.
      const logins = lines.filter((l) => l.event === 'http' && (l.path === '/login' || l.path.startsWith('/authorize')));
      assert.ok(logins.length >= 2 * 23);
      assert.deepEqual([...new Set(logins.map((l) => l.ip))], ['203.0.113.44']);
      assert.equal(throttled[1].ip, '203.0.113.44');
      assert.match(throttled[2].user, /^unknown:[0-9a-f]{12}$/);
      assert.notEqual(throttled[2].user, plainDigest(long));
      assert.notEqual(throttled[2].user, throttled[0].user);
      assert.doesNotMatch(srv.stderr(), /\u20ac\u20ac/);
      // Without a proxy header, the connection's own address.
      await fetch(`${srv.issuer}/healthz`);
      await new Promise((res) => setTimeout(res, 200));
      const direct = srv.stderr().split('\n').filter((l) => l.includes('"path":"/healthz"')).map((l) => JSON.parse(l)).pop();
      assert.equal(direct.ip, '127.0.0.1');
      // Methods are logged whole, up to 31 bytes; a longer one is cut, and says so.
      await fetch(`${srv.issuer}/healthz`, { method: 'MKCALENDAR' });
      await fetch(`${srv.issuer}/healthz`, { method: 'X'.repeat(40) });
      await new Promise((res) => setTimeout(res, 200));
      const methods = srv.stderr().split('\n').filter((l) => l.includes('"path":"/healthz"')).map((l) => JSON.parse(l).method);
      assert.ok(methods.includes('MKCALENDAR'), methods.join(' '));
      assert.ok(methods.includes(`${'X'.repeat(28)}...`), methods.join(' '));
    } finally {
      await srv.stop();
    }
  });

  test('client authentication: failures slow their address alone, and a try in its wait is refused unchecked', { timeout: 60000 }, async () => {
    const srv = await startServer({ store: STORE, logLevel: 'info', listen: { trusted_proxies: ['127.0.0.0/8'] } });
    try {
      const s = await seed(srv, { user: 'cleo' });
      const config = await client.discovery(new URL(srv.issuer), s.clientId, undefined,
        client.ClientSecretBasic(s.clientSecret), { execute: [client.allowInsecureRequests] });
      const a = await authUrl(config);
      const r = await signIn(new Browser(), srv.issuer, a.url.href, s.user, s.password);
      assert.equal(r.status, 302, r.text);
      const code = new URL(r.location).searchParams.get('code');
      const grant = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: a.verifier };
      const post = (p, ip, form, secret = s.clientSecret, id = s.clientId) => clientPost(srv.issuer, p, form, id, secret,
        { 'x-forwarded-for': `${ip}, 127.0.0.1` });
      const tokenCount = async (outcome) => {
        const text = await (await fetch(`${srv.issuer}/metrics`)).text();
        const m = text.match(new RegExp(`^authflow_tokens_total\\{grant="authorization_code",outcome="${outcome}"\\} (\\d+)$`, 'm'));
        return m ? Number(m[1]) : NaN;
      };
      const unavailableBefore = await tokenCount('unavailable');
      // Twenty failures from one address: wrong secrets, and a client id nobody has.
      for (let i = 0; i < 20; i++) {
        const res = await post('/token', '203.0.113.61', grant, `guess-${i}`, i % 2 ? s.clientId : `nobody-${i}`);
        assert.equal(res.status, 401);
        assert.equal((await res.json()).error, 'invalid_client');
      }
      // Then even the right secret from there waits, unchecked: the code is not spent.
      let res = await post('/token', '203.0.113.61', grant);
      assert.equal(res.status, 429);
      assert.equal(res.headers.get('retry-after'), '1');
      assert.equal((await res.json()).error, 'temporarily_unavailable');
      res = await post('/revoke', '203.0.113.61', { token: 'x'.repeat(43) });
      assert.equal(res.status, 429, 'revocation takes the client secret too');
      // Another address is neither slowed nor counted with it.
      res = await post('/token', '198.51.100.61', grant, 'wrong');
      assert.equal(res.status, 401);
      await new Promise((done) => setTimeout(done, 1100));
      res = await post('/token', '203.0.113.61', grant);
      assert.equal(res.status, 200, 'the wait is over and the code was never spent');
      assert.ok((await res.json()).id_token);
      // Each failure past the limit doubles the wait.
      res = await post('/token', '203.0.113.61', grant, 'wrong');
      assert.equal(res.status, 401);
      res = await post('/token', '203.0.113.61', grant);
      assert.equal(res.status, 429);
      assert.equal(res.headers.get('retry-after'), '2');
      // The metrics tell a wait from a store that failed.
      assert.equal(await tokenCount('throttled'), 2);
      assert.equal(await tokenCount('unavailable'), unavailableBefore);
      await new Promise((done) => setTimeout(done, 200));
      const lines = srv.stderr().split('\n').filter((l) => l.includes('"event":"client_auth"')).map((l) => JSON.parse(l));
      const throttled = lines.filter((l) => l.outcome === 'throttled');
      assert.equal(throttled.length, 3);
      assert.ok(throttled.every((l) => l.ip === '203.0.113.61'), JSON.stringify(throttled[0]));
      assert.ok(throttled.every((l) => l.level === 'warn'), 'an address held in its wait is a warning');
      const refusals = lines.filter((l) => l.outcome === 'refused');
      assert.equal(refusals.length, 22);
      assert.ok(refusals.every((l) => l.level === 'info'));
      // Why each was refused: an id nobody has, or a wrong secret.
      assert.equal(refusals.filter((l) => l.why === 'no_such_client' && l.client.startsWith('nobody-')).length, 10);
      assert.equal(refusals.filter((l) => l.why === 'wrong_secret_or_disabled' && l.client === s.clientId).length, 12);
      assert.doesNotMatch(srv.stderr(), new RegExp(s.clientSecret));
    } finally {
      await srv.stop();
    }
  });

  test('admin API: wrong tokens slow their address alone, and a token tried in its wait is refused unchecked', { timeout: 60000 }, async () => {
    const srv = await startServer({ store: STORE, logLevel: 'info', listen: { trusted_proxies: ['127.0.0.0/8'] } });
    try {
      const get = (ip, token = srv.superToken, extra = {}) => fetch(`${srv.issuer}/admin/v1/users`, {
        headers: { 'x-forwarded-for': `${ip}, 127.0.0.1`, ...(token ? { authorization: `Bearer ${token}` } : {}), ...extra },
      });
      // No token is no guess: not counted.
      for (let i = 0; i < 25; i++) assert.equal((await get('203.0.113.71', null)).status, 401);
      assert.equal((await get('203.0.113.71')).status, 200);
      for (let i = 0; i < 20; i++) {
        const r = await get('203.0.113.71', randomBytes(32).toString('base64url'));
        assert.equal(r.status, 401);
        assert.equal((await r.json()).error, 'unauthorized');
      }
      let r = await get('203.0.113.71');
      assert.equal(r.status, 429, 'the right token waits too');
      assert.equal(r.headers.get('retry-after'), '1');
      assert.equal((await r.json()).error, 'too_many_requests');
      // Another address, and the same address' clients and sign-ins, are not held.
      assert.equal((await get('198.51.100.71')).status, 200);
      const s = await seed(srv, { user: 'rhea' });
      const b = new Browser({ 'x-forwarded-for': '203.0.113.71, 127.0.0.1' });
      const config = await client.discovery(new URL(srv.issuer), s.clientId, undefined,
        client.ClientSecretBasic(s.clientSecret), { execute: [client.allowInsecureRequests] });
      const a = await authUrl(config);
      assert.equal((await signIn(b, srv.issuer, a.url.href, s.user, s.password)).status, 302);
      await new Promise((done) => setTimeout(done, 1100));
      r = await get('203.0.113.71');
      assert.equal(r.status, 200, 'the wait is over');
      // authflowctl, from an address in its wait, says so in one line.
      // (The twentieth failure begins a wait of one second; once it ran
      // out, the 21st begins one of two, time enough to start authflowctl.)
      for (let i = 0; i < 21; i++) {
        if (i === 20) await new Promise((done) => setTimeout(done, 1100));
        r = await fetch(`${srv.issuer}/admin/v1/users`, { headers: { authorization: 'Bearer wrong' } });
        assert.equal(r.status, 401);
      }
      const c = ctl(srv, ['user', 'list']);
      assert.equal(c.code, 6, "a wait: try again later");
      assert.equal(c.stderr.trim().split('\n').length, 1, c.stderr);
      assert.match(c.stderr, /too many failed authentications from this address/);
      await new Promise((done) => setTimeout(done, 200));
      const held = srv.stderr().split('\n').filter((l) => l.includes('status=429') && l.includes('"event":"admin"'));
      assert.equal(held.length, 2, held.join('\n'));
      assert.match(held[0], /ip=203\.0\.113\.71/);
      assert.match(held[1], /ip=127\.0\.0\.1/);
    } finally {
      await srv.stop();
    }
  });

  test('admin API: only admin.allow may use it, by the address trusted proxies give; others see no such page', { timeout: 60000 }, async () => {
    const srv = await startServer({
      store: STORE, logLevel: 'info',
      listen: { trusted_proxies: ['127.0.0.0/8'] }, admin: { allow: ['127.0.0.1', '198.51.100.0/24'] },
    });
    const closed = await startServer({ store: STORE, admin: { allow: [] } });
    try {
      const get = (issuer, ip, p = '/admin/v1/users', token = srv.superToken) => fetch(`${issuer}${p}`, {
        headers: { authorization: `Bearer ${token}`, ...(ip ? { 'x-forwarded-for': `${ip}, 127.0.0.1` } : {}) },
      });
      assert.equal((await get(srv.issuer, '198.51.100.8')).status, 200);
      assert.equal((await get(srv.issuer)).status, 200, 'loopback is listed');
      const unknown = await get(srv.issuer, null, '/no/such/page');
      const refused = await get(srv.issuer, '203.0.113.8');
      assert.equal(refused.status, 404);
      assert.equal(await refused.text(), await unknown.text(), 'the same answer as a page that does not exist');
      assert.equal(refused.headers.get('www-authenticate'), null, 'no hint of an API behind it');
      // Unlisted addresses are refused before any token is looked at: wrong ones count nothing.
      for (let i = 0; i < 25; i++) assert.equal((await get(srv.issuer, '203.0.113.9', undefined, 'wrong')).status, 404);
      // An empty list: nobody, loopback included; sign-ins go on.
      assert.equal((await get(closed.issuer, null, '/admin/v1/users', closed.superToken)).status, 404);
      assert.equal((await fetch(`${closed.issuer}/.well-known/openid-configuration`)).status, 200);
      const c = ctl(closed, ['user', 'list']);
      assert.equal(c.code, 3, "no admin API there");
      assert.equal(c.stderr.trim().split('\n').length, 1, c.stderr);
      await new Promise((done) => setTimeout(done, 200));
      const access = srv.stderr().split('\n').filter((l) => l.includes('"event":"http"')).map((l) => JSON.parse(l))
        .filter((l) => l.ip === '203.0.113.8');
      assert.equal(access.length, 1);
      assert.equal(access[0].status, '404');
      assert.equal(access[0].path, '/admin/v1/users');
    } finally {
      await srv.stop();
      await closed.stop();
    }
  });

  test('metrics: only metrics.allow may read them, by the address trusted proxies give; healthz stays open', { timeout: 60000 }, async () => {
    const srv = await startServer({ store: STORE, listen: { trusted_proxies: ['127.0.0.0/8'] } });
    let proc;
    let dir;
    try {
      const get = (issuer, p, ip) => fetch(`${issuer}${p}`, { headers: ip ? { 'x-forwarded-for': ip } : {} });
      // The default: loopback only, whoever the proxy says is asking.
      const own = await get(srv.issuer, '/metrics');
      assert.equal(own.status, 200);
      assert.match(await own.text(), /^authflow_logins_total\{outcome="ok"\} \d+$/m);
      assert.equal((await get(srv.issuer, '/metrics', '127.0.0.9')).status, 200);
      const outside = await get(srv.issuer, '/metrics', '203.0.113.9');
      assert.equal(outside.status, 404);
      const body = await outside.text();
      assert.doesNotMatch(body, /authflow_|# TYPE/);
      assert.match(body, /Page not found/, 'the answer of any page that does not exist');
      assert.equal((await get(srv.issuer, '/metrics', '::ffff:203.0.113.9')).status, 404);
      assert.equal((await get(srv.issuer, '/healthz', '203.0.113.9')).status, 200);

      // metrics.allow names the monitoring network; loopback is then out.
      const cfg = JSON.parse(readFileSync(srv.configPath, 'utf8'));
      const port = await freePort();
      dir = mkdtempSync(path.join(os.tmpdir(), 'authflow-e2e-'));
      cfg.issuer = `http://127.0.0.1:${port}`;
      cfg.listen.port = port;
      cfg.state_dir = dir;
      if (cfg.store.prefix) cfg.store.prefix = `e2e${port}:`;
      cfg.metrics = { allow: ['198.51.100.0/24'] };
      const file = path.join(dir, 'authflow.json');
      writeFileSync(file, JSON.stringify(cfg), { mode: 0o600 });
      proc = spawn(path.join(BIN, 'authflow'), ['--config', file], { stdio: ['ignore', 'ignore', 'pipe'] });
      let up = false;
      for (let i = 0; i < 200 && !up; i++) {
        try { up = (await fetch(`${cfg.issuer}/healthz`)).ok; } catch { /* not yet */ }
        if (!up) await new Promise((res) => setTimeout(res, 50));
      }
      assert.ok(up, 'the second server answers');
      assert.equal((await get(cfg.issuer, '/metrics', '198.51.100.20')).status, 200);
      assert.equal((await get(cfg.issuer, '/metrics')).status, 404);
      assert.equal((await get(cfg.issuer, '/metrics', '203.0.113.9')).status, 404);
    } finally {
      if (proc) {
        proc.kill('SIGTERM');
        await new Promise((res) => (proc.exitCode !== null ? res() : proc.once('exit', res)));
      }
      if (dir) rmSync(dir, { recursive: true, force: true });
      await srv.stop();
    }
  });

  test('open files: a low soft limit is raised; a low hard limit is warned of, and running out is logged', { timeout: 60000 }, async () => {
    const soft = await startServer({ store: STORE, ulimit: '-Sn 64' });
    try {
      const limits = readFileSync(`/proc/${soft.proc.pid}/limits`, 'utf8');
      const m = limits.match(/^Max open files\s+(\d+)/m);
      assert.ok(m && Number(m[1]) >= 4608, limits);
      // No core image of a memory holding keys: soft and hard limit 0.
      assert.match(limits, /^Max core file size\s+0\s+0\s/m);
    } finally {
      await soft.stop();
    }
    const hard = await startServer({ store: STORE, ulimit: '-n 160', logLevel: 'info' });
    const socks = [];
    try {
      assert.match(hard.stderr(), /the process may open 160 files, fewer than the 4096 connections the server holds at most and their files: past about [1-9]\d* connections new ones wait/);
      // Hold connections until the server runs out of descriptors.
      for (let i = 0; i < 200; i++) {
        socks.push(await new Promise((res, rej) => {
          const c = net.connect(hard.port, '127.0.0.1', () => res(c));
          c.on('error', rej);
        }));
      }
      for (let i = 0; i < 100 && !/new connections are not accepted/.test(hard.stderr()); i++) {
        await new Promise((res) => setTimeout(res, 50));
      }
      assert.match(hard.stderr(), /"level":"error".*new connections are not accepted: the process is out of file descriptors \(160 allowed/);
      // Once they close, it accepts again.
      for (const c of socks) c.destroy();
      let ok = false;
      for (let i = 0; i < 100 && !ok; i++) {
        ok = await fetch(`${hard.issuer}/healthz`).then((r) => r.ok, () => false);
        if (!ok) await new Promise((res) => setTimeout(res, 100));
      }
      assert.ok(ok, 'healthz answers again');
    } finally {
      for (const c of socks) c.destroy();
      await hard.stop();
    }
  });

  test('idle kept-alive connections hold little memory each', { timeout: 60000 }, async () => {
    const srv = await startServer({ store: STORE, limits: { connections_per_ip: 1000 } });
    const socks = [];
    try {
      const port = Number(new URL(srv.issuer).port);
      const rss = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${srv.proc.pid}/status`, 'utf8'))[1]);
      // One connection first, so that what every connection shares is paid.
      const one = () => new Promise((res, rej) => {
        const sock = net.connect(port, '127.0.0.1', () => sock.write('GET /healthz?a=1 HTTP/1.1\r\nHost: x\r\n\r\n'));
        sock.once('data', (d) => (String(d).startsWith('HTTP/1.1 200') ? res(sock) : rej(new Error(String(d)))));
        sock.on('error', rej);
        socks.push(sock);
      });
      await one();
      const before = rss();
      const n = 300;
      for (let i = 0; i < n; i += 50) await Promise.all(Array.from({ length: 50 }, one));
      const perConn = (rss() - before) / n;
      // libmicrohttpd clears a connection's whole memory after each
      // request, so each idle one keeps it all: 64 KiB, and what the
      // sanitizers add.
      assert.ok(perConn < 120, `${perConn.toFixed(0)} KiB per idle connection`);
    } finally {
      for (const s of socks) s.destroy();
      await srv.stop();
    }
  });

  test('requests refused before routing count as unknown with the status sent; one never answered is logged as aborted', { timeout: 60000 }, async () => {
    const srv = await startServer({ store: STORE, logLevel: 'info' });
    try {
      await seed(srv, { user: 'uma' }); // admin creations: 201
      const port = Number(new URL(srv.issuer).port);
      // Writes text on a raw connection (then, when told, half-closes it
      // a moment later, once the server has read the request line), and
      // returns what came back before the server closed it.
      const raw = (text, { end = false } = {}) => new Promise((res) => {
        let got = '';
        const sock = net.connect(port, '127.0.0.1', () => {
          sock.write(text);
          if (end) setTimeout(() => sock.end(), 300);
        });
        sock.on('data', (d) => { got += d; });
        const done = () => { sock.destroy(); res(got); };
        sock.on('close', done);
        sock.on('error', done);
        setTimeout(done, 3000);
      });
      // Header fields over 32 KiB: 431; just under, with a target of
      // 8000 bytes, answered.
      const big = await raw(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(33000)}\r\n\r\n`);
      assert.match(big, /^HTTP\/1\.1 431 /);
      const under = await raw(`GET /jwks?a=${'b'.repeat(8000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: ${'a'.repeat(32000)}\r\n\r\n`);
      assert.match(under, /^HTTP\/1\.1 200 /);
      // Over libmicrohttpd's memory for a connection: it answers 431 itself.
      const huge = await raw(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(400000)}\r\n\r\n`);
      assert.match(huge, /^HTTP\/1\.1 431 /);
      // A target in absolute form is routed by its path (RFC 9112 3.2.2).
      const abs = await raw(`GET http://127.0.0.1:${port}/jwks HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.match(abs, /^HTTP\/1\.1 200 /);
      assert.match(abs, /"keys"/);
      const dev = await raw(`GET HTTPS://example.com/device/v1/challenges HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.match(dev, /^HTTP\/1\.1 401 /);
      assert.match(dev, /"error":"unauthorized"/);
      const bare = await raw(`GET http://127.0.0.1:${port}?a=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.match(bare, /^HTTP\/1\.1 404 /);
      // A target of many empty pieces, or of one name given thousands of
      // times (each counts toward the 256 parameters), is answered at once.
      const t0 = Date.now();
      assert.equal((await fetch(`${srv.issuer}/jwks?${Array(4000).fill('').join('&')}`)).status, 200);
      assert.equal((await fetch(`${srv.issuer}/jwks?${Array(4000).fill('a').join('&')}`)).status, 400);
      assert.equal((await fetch(`${srv.issuer}/authorize?${Array(4000).fill('a').join('&')}`)).status, 400);
      assert.ok(Date.now() - t0 < 5000, 'answered without waiting for the time limit');
      // A client gone before its headers were complete: no answer at all.
      assert.equal(await raw('GET /healthz HTTP/1.1\r\nHost: x\r\n', { end: true }), '');
      // A malformed chunked body, which libmicrohttpd answers 400.
      const chunked = await raw('POST /token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n'
        + 'Connection: close\r\n\r\nzz\r\n');
      assert.match(chunked, /^HTTP\/1\.1 400 /);
      assert.equal((await fetch(`${srv.issuer}/${'a'.repeat(9000)}`)).status, 414);

      const want = [
        'authflow_http_requests_total{route="healthz",status="431"} 1',
        'authflow_http_requests_total{route="unknown",status="431"} 1',
        'authflow_http_requests_total{route="unknown",status="aborted"} 1',
        'authflow_http_requests_total{route="token",status="400"} 1',
        'authflow_http_requests_total{route="unknown",status="414"} 1',
      ];
      let text = '';
      for (let i = 0; i < 40; i++) {
        text = await (await fetch(`${srv.issuer}/metrics`)).text();
        if (want.every((w) => text.split('\n').includes(w))) break;
        await new Promise((res) => setTimeout(res, 100));
      }
      const series = text.split('\n').filter((l) => l.startsWith('authflow_http_requests_total{'));
      for (const w of want) assert.ok(series.includes(w), `no ${w} in:\n${series.join('\n')}`);
      assert.ok(series.some((l) => /^authflow_http_requests_total\{route="admin",status="201"\} [1-9]/.test(l)), series.join('\n'));
      assert.ok(!series.some((l) => l.includes('route="discovery"')), `no discovery request was made:\n${series.join('\n')}`);
      assert.ok(!series.some((l) => l.includes('status="other"')), series.join('\n'));

      const lines = srv.stderr().split('\n').filter((l) => l.includes('"event":"http"')).map((l) => JSON.parse(l));
      assert.ok(!lines.some((l) => l.status === '0'), 'no status 0 in the access log');
      const tooBig = lines.find((l) => l.path === '/healthz' && l.status === '431');
      assert.ok(tooBig, 'the 431 is logged with its status');
      const gone = lines.find((l) => l.status === 'aborted');
      assert.ok(gone, 'the unanswered request is logged as aborted');
      assert.equal(gone.path, '/healthz');
      assert.match(gone.aborted, /client closed the connection/);
      const tooLong = lines.find((l) => l.status === '414');
      assert.ok(tooLong, 'the 414 is logged');
      assert.equal(tooLong.method, 'GET');
      assert.equal(tooLong.path, `/${'a'.repeat(511)}...`, 'its path, cut as any long path is');
      assert.ok(lines.some((l) => l.path === '/token' && l.status === '400'), 'the malformed body is logged with 400');
    } finally {
      await srv.stop();
    }
  });
});

// The signing keys' lifecycle: rotation, retirement, the ring's cap, the
// alert, a lifetime that ends without a rotation, a damaged ring, and
// several nodes on one Redis.

// /healthz answers from the server's own check of the store, made once a
// second: the answer it gives within a few seconds, with its body.
async function healthWithin(issuer, status) {
  let h;
  for (let i = 0; i < 40; i++) {
    h = await fetch(`${issuer}/healthz`);
    if (h.status === status) break;
    await h.arrayBuffer();
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.equal(h.status, status);
  return h.json();
}

// keys retire of a key that just stopped signing: with a shared store
// (redis) the other nodes may sign with it until their next look at the
// ring, so the server says how long to wait, and takes it then; alone
// (memory) it takes it at once. The last answer.
async function retireOnceAllowed(srv, kid) {
  let r = ctl(srv, ['keys', 'retire', '--', kid]);
  if (STORE === 'redis') {
    assert.equal(r.code, 6, `try again later: ${r.stderr}`);
    const m = r.stderr.match(/other nodes may still sign with it until they see that: retire it in (\d+) s/);
    assert.ok(m, r.stderr);
    assert.ok(Number(m[1]) >= 1 && Number(m[1]) <= 6, r.stderr);
    // The API says when, for tools of its own.
    const raw = await srv.admin('DELETE', `/keys/${encodeURIComponent(kid)}`);
    assert.equal(raw.status, 409, raw.text);
    assert.ok(raw.json.retry_after_s >= 1 && raw.json.retry_after_s <= 6, raw.text);
    await new Promise((done) => setTimeout(done, Number(m[1]) * 1000 + 100));
    r = ctl(srv, ['keys', 'retire', '--', kid]);
  }
  return r;
}

describe(`authflow signing keys (${STORE} store)`, () => {
  const sleep = (ms) => new Promise((res) => setTimeout(res, ms));
  const kidOf = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url')).kid;
  const jwksKids = async (issuer) => (await (await fetch(`${issuer}/jwks`)).json()).keys.map((k) => k.kid);
  const thumbprint = (jwk) => createHash('sha256')
    .update(JSON.stringify({ e: jwk.e, kty: 'RSA', n: jwk.n })).digest('base64url');


  // A full sign-in at srv for seeded s: the token answer.
  async function signInAt(srv, s) {
    const config = await client.discovery(new URL(srv.issuer), s.clientId, undefined,
      client.ClientSecretBasic(s.clientSecret), { execute: [client.allowInsecureRequests] });
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT, scope: 'openid', state, nonce,
      code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    const r = await signIn(new Browser(), srv.issuer, url.href, s.user, s.password);
    assert.equal(r.status, 302, r.text);
    return client.authorizationCodeGrant(config, new URL(r.location), {
      pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce,
    });
  }

  // A configuration like startServer's, on a port of its own, with the
  // given state folder and (for redis) key prefix; written to dir.
  async function nodeConfig(dir, { prefix, issuer } = {}) {
    const port = await freePort();
    const superToken = randomBytes(32).toString('base64url');
    const redisUrl = process.env.AF_TEST_REDIS_AUTH_URL || process.env.AF_TEST_REDIS_URL;
    const cfg = {
      issuer: issuer ?? `http://127.0.0.1:${port}`,
      listen: { address: '127.0.0.1', port, threads: 4 },
      state_dir: path.join(dir, `state-${port}`),
      store: STORE === 'redis' ? { backend: 'redis', url: redisUrl, prefix } : { backend: 'memory' },
      keys: { algorithm: 'RS256', rsa_bits: 2048 },
      password_hash: { argon2id: { m_kib: 1024, t: 1, p: 1 } },
      admin: { tokens: [{ name: 'keys-super', role: 'superadmin', sha256: createHash('sha256').update(superToken).digest('hex') }] },
      log: { level: 'warn' },
    };
    const file = path.join(dir, `authflow-${port}.json`);
    writeFileSync(file, JSON.stringify(cfg), { mode: 0o600 });
    return { file, cfg, port, superToken, issuer: `http://127.0.0.1:${port}` };
  }

  // Starts authflow on a configuration: resolves once it answers /healthz,
  // or with { exit, stderr } when it exits first.
  async function startNode(nc) {
    const proc = spawn(path.join(BIN, 'authflow'), ['--config', nc.file], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let exited = null;
    proc.stderr.on('data', (d) => { stderr += d; });
    const gone = new Promise((res) => proc.on('exit', (code, sig) => { exited = { code, sig }; res(); }));
    for (let i = 0; i < 300 && !exited; i++) {
      try {
        if ((await fetch(`${nc.issuer}/healthz`)).ok) break;
      } catch { /* not up yet */ }
      await sleep(50);
    }
    if (exited) return { exit: exited, stderr };
    return {
      ...nc, proc, stderr: () => stderr,
      async stop() { if (!exited) proc.kill('SIGTERM'); await gone; return exited; },
    };
  }

  // The ring as the store keeps it (the node is stopped for the memory
  // store, whose append-only file this reads and appends to).
  function ringStore(nc) {
    if (STORE === 'redis') {
      const url = process.env.AF_TEST_REDIS_URL;
      const key = `${nc.cfg.store.prefix}keys:ring`;
      return {
        get: () => execFileSync('redis-cli', ['-u', url, '--raw', 'GET', key]).toString().trim(),
        put: (text) => { execFileSync('redis-cli', ['-u', url, 'SET', key, text], { stdio: 'ignore' }); },
      };
    }
    const aof = path.join(nc.cfg.state_dir, 'store.aof');
    // Records: body length, its complement, SHA-256 of the body, the body
    // (op, expiry, key length, key, value length, value).
    const records = () => {
      const b = readFileSync(aof);
      const out = [];
      for (let off = 8; off + 40 <= b.length;) {
        const blen = b.readUInt32LE(off);
        const body = b.subarray(off + 40, off + 40 + blen);
        const klen = body.readUInt32LE(9);
        const key = body.subarray(13, 13 + klen).toString();
        const vlen = body.readUInt32LE(13 + klen);
        out.push({ key, value: body.subarray(17 + klen, 17 + klen + vlen).toString() });
        off += 40 + blen;
      }
      return out.filter((r) => r.key.endsWith('keys:ring'));
    };
    return {
      get: () => records().at(-1).value,
      put: (text) => {
        const key = Buffer.from(records().at(-1).key);
        const value = Buffer.from(text);
        const head = Buffer.alloc(13);
        head[0] = 1; // a SET without expiry
        head.writeUInt32LE(key.length, 9);
        const vlen = Buffer.alloc(4);
        vlen.writeUInt32LE(value.length);
        const body = Buffer.concat([head, key, vlen, value]);
        const pre = Buffer.alloc(8);
        pre.writeUInt32LE(body.length);
        pre.writeUInt32LE(~body.length >>> 0, 4);
        appendFileSync(aof, Buffer.concat([pre, createHash('sha256').update(body).digest(), body]));
      },
    };
  }

  test('rotate: new tokens carry the new key at once, the old key stays published, the CLI shows expiry and the alert window', async () => {
    const s = await seed(server, { user: 'keys-rot', app: { access_token_format: 'jwt' } });
    const before = await signInAt(server, s);
    const oldKid = kidOf(before.id_token);
    assert.equal(kidOf(before.access_token), oldKid);

    const st = ctl(server, ['keys', 'status']);
    assert.equal(st.code, 0, st.stderr);
    assert.match(st.stdout, new RegExp(`^signing_kid: ${oldKid}$`, 'm'));
    assert.match(st.stdout, /^expires_at: \d{4}-\d\d-\d\dT/m);
    assert.match(st.stdout, /^days_left: 7(29|30)$/m);
    assert.match(st.stdout, /^alert_days: 60$/m);
    assert.doesNotMatch(st.stdout, /ALERT/);

    const rot = ctl(server, ['keys', 'rotate']);
    assert.equal(rot.code, 0, rot.stderr);
    const newKid = rot.stdout.match(/^kid: (\S+)$/m)[1];
    assert.notEqual(newKid, oldKid);
    assert.equal(newKid, thumbprint((await (await fetch(`${server.issuer}/jwks`)).json()).keys.find((k) => k.kid === newKid)));
    // Every worker thread signs with it: several sign-ins at once.
    const after = await Promise.all([1, 2, 3, 4].map(() => signInAt(server, s)));
    for (const t of after) {
      assert.equal(kidOf(t.id_token), newKid);
      assert.equal(kidOf(t.access_token), newKid);
    }
    const kids = await jwksKids(server.issuer);
    assert.ok(kids.includes(oldKid) && kids.includes(newKid), kids.join(' '));
    // A JWT access token of the old key is still good where it is checked.
    const ui = await fetch(`${server.issuer}/userinfo`, { headers: { authorization: `Bearer ${before.access_token}` } });
    assert.equal(ui.status, 200);
    const keys = (await server.admin('GET', '/keys')).json;
    const old = keys.keys.find((k) => k.kid === oldKid);
    assert.equal(old.signing, false);
    // Retired once the longest-lived token it may have signed has expired.
    assert.ok(old.retire_after - old.expires_at >= 600, JSON.stringify(old));
    const cc = (await fetch(`${server.issuer}/jwks`)).headers.get('cache-control');
    assert.ok(Number(cc.match(/max-age=(\d+)/)[1]) <= 300, cc);
  });

  test('repeated rotations: the ring holds 16 keys, then says it is full and keeps signing', { timeout: 120000 }, async () => {
    const srv = await startServer({ store: STORE });
    try {
      let full = null;
      for (let i = 0; i < 20 && !full; i++) {
        const r = await srv.admin('POST', '/keys/rotate');
        if (r.status !== 200) full = r;
      }
      assert.ok(full, 'a rotation was refused');
      assert.equal(full.status, 409);
      const keys = (await srv.admin('GET', '/keys')).json;
      // When room comes by itself, and how to make it sooner.
      const first = Math.min(...keys.keys.filter((k) => !k.signing).map((k) => k.retire_after));
      const at = new Date(first * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
      assert.equal(full.json.message, `the key ring is full (16 keys): the first leaves by itself at ${at}; 'keys retire KID' takes a key that no longer signs out now`);
      assert.equal(keys.keys.length, 16);
      assert.equal((await jwksKids(srv.issuer)).length, 16);
      const cli = ctl(srv, ['keys', 'rotate']);
      assert.equal(cli.code, 5, 'the ring is full');
      assert.equal(cli.stderr.trim().split('\n').length, 1, cli.stderr);
      const s = await seed(srv, { user: 'keys-full' });
      assert.equal(kidOf((await signInAt(srv, s)).id_token), keys.signing_kid);
      // A retirement makes room for the next rotation.
      const old = keys.keys.find((k) => !k.signing).kid;
      assert.equal((await retireOnceAllowed(srv, old)).code, 0);
      assert.equal((await srv.admin('POST', '/keys/rotate')).status, 200);
    } finally {
      await srv.stop();
    }
  });

  test('rotate --after: the new key is published at once and signs later, so cached key sets already hold it', async () => {
    const srv = await startServer({ store: STORE });
    try {
      const s = await seed(srv, { user: 'keys-ahead' });
      const oldKid = kidOf((await signInAt(srv, s)).id_token);
      let r = ctl(srv, ['keys', 'rotate', '--after', '10m']);
      assert.equal(r.code, 0, r.stderr);
      const kid = r.stdout.match(/^kid: (\S+)$/m)[1];
      assert.match(r.stdout, new RegExp(`^next_kid: ${kid}$`, 'm'));
      assert.match(r.stdout, new RegExp(`^signing_kid: ${oldKid}$`, 'm'));
      assert.deepEqual((await jwksKids(srv.issuer)).sort(), [oldKid, kid].sort());
      assert.equal(kidOf((await signInAt(srv, s)).id_token), oldKid, 'the old key signs until then');
      const keys = (await srv.admin('GET', '/keys')).json;
      const next = keys.keys.find((k) => k.kid === kid);
      const old = keys.keys.find((k) => k.kid === oldKid);
      assert.equal(old.expires_at, next.signs_from, 'one stops as the other starts');
      assert.ok(Math.abs(next.signs_from - (Date.now() / 1000 + 600)) < 30, JSON.stringify(next));
      const ev = (await srv.admin('GET', '/audit?limit=5')).json.events.find((e) => e.action === 'keys.rotate');
      assert.deepEqual(ev.detail, { after_s: 600 });
      // Planned later than the signing key now lasts: refused.
      r = ctl(srv, ['keys', 'rotate', '--after', '1h']);
      assert.equal(r.code, 5, 'in the way of the plan');
      assert.match(r.stderr, /the signing key stops signing before then/);
      // Bad input: the command line, and the API.
      assert.equal(ctl(srv, ['keys', 'rotate', '--after', '2d']).code, 2);
      assert.equal(ctl(srv, ['keys', 'rotate', '--after', 'soon']).code, 2);
      assert.equal((await srv.admin('POST', '/keys/rotate', { after_s: -1 })).status, 400);
      // Sooner than relying parties may keep /jwks: what a plan is for.
      const soon = await srv.admin('POST', '/keys/rotate', { after_s: 299 });
      assert.equal(soon.status, 400);
      assert.equal(soon.json.message, 'after_s: at least 300, the seconds relying parties may keep /jwks (0 rotates now)');
      assert.equal((await srv.admin('POST', '/keys/rotate', { after: 60 })).status, 400);
      assert.equal((await jwksKids(srv.issuer)).length, 2, 'nothing changed');
      // The status tells the two keys' ends apart: days_left counts to
      // the end of the one lined up to follow.
      r = ctl(srv, ['keys', 'status']);
      const ends = (line) => Date.parse(r.stdout.match(new RegExp(`^${line}: (\\S+)$`, 'm'))[1]);
      assert.ok(Math.abs(ends('expires_at') - (Date.now() + 600000)) < 30000, r.stdout);
      assert.ok(ends('next_expires_at') > Date.now() + 729 * 86400000, r.stdout);
      assert.match(r.stdout, /^days_left: 73[01]$/m);
      // Retiring the key lined up calls the rotation off: the signing key
      // signs for its whole life again, and no key takes over in haste.
      r = ctl(srv, ['keys', 'retire', '--', kid]);
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stdout, /^next_kid:/m);
      assert.ok(ends('expires_at') > Date.now() + 729 * 86400000, r.stdout);
      assert.deepEqual(await jwksKids(srv.issuer), [oldKid]);
      assert.match(srv.stderr(), /the rotation planned to key \S+ is off: the signing key signs until \S+ again/);
      // The command and the audit trail say so too, not the log alone.
      assert.match(r.stdout, /^the planned rotation is off: the signing key signs until its expires_at$/m);
      const gone = (await srv.admin('GET', '/audit?limit=1')).json.events[0];
      assert.equal(gone.action, 'keys.retire');
      assert.deepEqual(gone.detail, { rotation_called_off: true });
      // A successor published ahead is in the JSON status with its end.
      assert.equal(ctl(srv, ['keys', 'rotate', '--after', '1h']).code, 0, 'a later plan fits again');
      const st = (await srv.admin('GET', '/keys')).json;
      const lined = st.keys.find((k) => k.kid === st.next_kid);
      assert.equal(st.next_expires_at, lined.expires_at);
    } finally {
      await srv.stop();
    }
  });

  test('retire: a key that may have leaked leaves /jwks at once and its tokens stop working; the signing key cannot', async () => {
    const srv = await startServer({ store: STORE });
    try {
      const s = await seed(srv, { user: 'keys-retire', app: { access_token_format: 'jwt' } });
      const before = await signInAt(srv, s);
      const oldKid = kidOf(before.id_token);
      // The key that signs now: rotate first.
      let r = ctl(srv, ['keys', 'retire', '--', oldKid]);
      assert.equal(r.code, 5, 'in the way');
      assert.match(r.stderr, /this key signs now, or begins to within seconds: rotate first \('keys rotate'\), then retire it/);
      assert.equal((await srv.admin('DELETE', '/keys/nosuchkey')).status, 404);
      // An admin token is not enough.
      const asAdmin = await fetch(`${srv.issuer}/admin/v1/keys/${oldKid}`, { method: 'DELETE', headers: { authorization: `Bearer ${srv.adminToken}` } });
      assert.equal(asAdmin.status, 403);
      assert.ok((await jwksKids(srv.issuer)).includes(oldKid));

      const newKid = ctl(srv, ['keys', 'rotate']).stdout.match(/^kid: (\S+)$/m)[1];
      let ui = await fetch(`${srv.issuer}/userinfo`, { headers: { authorization: `Bearer ${before.access_token}` } });
      assert.equal(ui.status, 200, 'before: the old key still verifies');
      r = await retireOnceAllowed(srv, oldKid);
      assert.equal(r.code, 0, r.stderr);
      // The status lists every key left, in a table.
      assert.match(r.stdout, new RegExp(`^signing_kid: ${newKid}$`, 'm'));
      assert.match(r.stdout, /^KID +SIGNS_FROM +EXPIRES_AT +LEAVES_JWKS +SIGNING$/m);
      assert.match(r.stdout, new RegExp(`^${newKid} +\\S+ +\\S+ +\\S+ +yes$`, 'm'));
      assert.doesNotMatch(r.stdout, new RegExp(oldKid));
      assert.doesNotMatch(r.stdout, /planned rotation/, 'no rotation was planned');
      assert.deepEqual(await jwksKids(srv.issuer), [newKid]);
      ui = await fetch(`${srv.issuer}/userinfo`, { headers: { authorization: `Bearer ${before.access_token}` } });
      assert.equal(ui.status, 401, 'its JWT access tokens no longer verify');
      const audit = (await srv.admin('GET', '/audit?limit=5')).json.events;
      assert.ok(audit.some((e) => e.action === 'keys.retire' && e.target === oldKid && !e.detail), JSON.stringify(audit));
      assert.match(srv.stderr(), new RegExp(`retired key ${oldKid}`));
      // Signing goes on with the new key.
      assert.equal(kidOf((await signInAt(srv, s)).id_token), newKid);
      assert.equal(ctl(srv, ['keys', 'retire', '--', oldKid]).code, 4, 'gone already');
    } finally {
      await srv.stop();
    }
  });

  test('a damaged key ring: one line at start, the ring left as it is, never a new key over it', { timeout: 120000 }, async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'authflow-keys-'));
    chmodSync(dir, 0o700);
    const nc = await nodeConfig(dir, { prefix: `keys${randomBytes(4).toString('hex')}:` });
    try {
      const first = await startNode(nc);
      assert.ok(first.proc, JSON.stringify(first));
      const [kid] = await jwksKids(nc.issuer);
      assert.equal((await first.stop()).code, 0);
      const ring = ringStore(nc);
      const good = ring.get();
      const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
      const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'jwk' });
      const cases = [
        ['its private key is another key\'s', (r) => { Object.assign(r.keys[0].jwk, { d: other.d, p: other.p, q: other.q, dp: other.dp, dq: other.dq, qi: other.qi }); },
          /the private key does not match the public key/],
        ['a 1024-bit key under its own thumbprint', (r) => { r.keys[0].jwk = { ...weak, kid: thumbprint(weak) }; r.keys[0].kid = thumbprint(weak); },
          /an RSA key of 1024 bits, not 2048, 3072 or 4096/],
        ['a kid that is not the thumbprint', (r) => { r.keys[0].kid = thumbprint(other); }, /its kid is not the RFC 7638 thumbprint/],
        ['no longer JSON', null, /\(not a JSON object\)/],
      ];
      for (const [what, change, why] of cases) {
        const r = JSON.parse(good);
        if (change) change(r);
        const damaged = change ? JSON.stringify(r) : good.slice(0, good.length / 2);
        ring.put(damaged);
        const run = await startNode(nc);
        if (run.proc) await run.stop();
        assert.deepEqual(run.exit, { code: 1, sig: null }, `${what}: refused`);
        const lines = run.stderr.trim().split('\n').filter((l) => !l.startsWith('{'));
        assert.equal(lines.length, 1, `${what}: one line\n${run.stderr}`);
        assert.match(lines[0], /^authflow: \S+\.json: signing keys: the key ring in the store is damaged \((key 1 of 1: |not)/);
        assert.match(lines[0], why, what);
        assert.doesNotMatch(run.stderr, /"d":|"p":/, 'no private key material');
        assert.equal(ring.get(), damaged, `${what}: the ring is left as it was`);
      }
      // Put back, it is the same key: nothing was made over it.
      ring.put(good);
      const again = await startNode(nc);
      assert.ok(again.proc, JSON.stringify(again));
      assert.deepEqual(await jwksKids(nc.issuer), [kid]);
      await again.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('two nodes started at once agree on one key; a rotation on one is published by the other at once', { skip: STORE !== 'redis', timeout: 120000 }, async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'authflow-keys-'));
    chmodSync(dir, 0o700);
    const prefix = `keys${randomBytes(4).toString('hex')}:`;
    const ncA = await nodeConfig(dir, { prefix });
    const ncB = await nodeConfig(dir, { prefix });
    const [a, b] = await Promise.all([startNode(ncA), startNode(ncB)]);
    try {
      assert.ok(a.proc && b.proc, `${a.stderr}\n${b.stderr}`);
      const ka = await jwksKids(a.issuer);
      assert.equal(ka.length, 1);
      assert.deepEqual(await jwksKids(b.issuer), ka);
      const rot = ctl(a, ['--json', 'keys', 'rotate']);
      assert.equal(rot.code, 0, rot.stderr);
      const { kid } = JSON.parse(rot.stdout);
      // A relying party that meets the new kid fetches /jwks from any node.
      assert.ok((await jwksKids(b.issuer)).includes(kid), 'published by the other node at once');
      let signing = null;
      for (let i = 0; i < 60 && signing !== kid; i++) {
        signing = JSON.parse(ctl(b, ['--json', 'keys', 'status']).stdout).signing_kid;
        if (signing !== kid) await sleep(100);
      }
      assert.equal(signing, kid, 'the other node signs with it within a few seconds');

      // A ring damaged in the store: the nodes go on with their keys,
      // say so once, and a rotation changes nothing.
      const ring = ringStore(ncA);
      const good = ring.get();
      const damaged = JSON.parse(good);
      damaged.keys.at(-1).kid = thumbprint(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' }));
      ring.put(JSON.stringify(damaged));
      const told = () => (b.stderr().match(/the key ring in the store is damaged; this node goes on/g) ?? []).length;
      // Looked at every 5 seconds; told once, however many looks.
      for (let i = 0; i < 150 && told() === 0; i++) await sleep(100);
      await sleep(6000);
      assert.equal(told(), 1, b.stderr());
      const refused = await fetch(`${b.issuer}/admin/v1/keys/rotate`, { method: 'POST', headers: { authorization: `Bearer ${b.superToken}` } });
      assert.equal(refused.status, 500);
      assert.match((await refused.json()).message, /damaged/);
      assert.deepEqual((await jwksKids(b.issuer)).sort(), [...ka, kid].sort());
      ring.put(good);
    } finally {
      if (a.proc) await a.stop();
      if (b.proc) await b.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a key whose lifetime ends without a rotation: alert, its successor published a week ahead, then signing with no gap', { skip: STORE !== 'redis', timeout: 120000 }, async () => {
    const srv = await startServer({ store: STORE, logLevel: 'info' });
    try {
      const s = await seed(srv, { user: 'keys-exp', app: { access_token_format: 'jwt' } });
      const before = await signInAt(srv, s);
      const oldKid = kidOf(before.id_token);
      assert.doesNotMatch(srv.stderr(), /key_alert/);
      // The key's end brought near, as two years of running would: first
      // into the alert period.
      const ring = ringStore({ cfg: JSON.parse(readFileSync(srv.configPath, 'utf8')) });
      const setEnd = (end) => {
        const r = JSON.parse(ring.get());
        assert.equal(r.keys.length, 1);
        Object.assign(r.keys[0], { expires_at: end, retire_after: end + 86400 });
        ring.put(JSON.stringify(r));
      };
      const nowS = () => Math.floor(Date.now() / 1000);
      setEnd(nowS() + 29 * 86400 - 60);
      for (let i = 0; i < 100 && !/"event":"key_alert"/.test(srv.stderr()); i++) await sleep(100);
      assert.match(srv.stderr(), /"event":"key_alert","msg":"the signing key expires in 29 days: run 'authflowctl keys rotate', or its successor is published in \/jwks 7 days before and signs from then"/);
      assert.match(await (await fetch(`${srv.issuer}/metrics`)).text(), /^authflow_signing_key_alert 1$/m);
      assert.match(ctl(srv, ['keys', 'status']).stdout, /^ALERT: the signing key expires in 29 days$/m);
      assert.deepEqual(await jwksKids(srv.issuer), [oldKid], 'no successor a month ahead');

      // Then to 12 seconds ahead: the successor is in /jwks at once,
      // while the old key still signs.
      const end = nowS() + 12;
      setEnd(end);
      let next = null;
      for (let i = 0; i < 100 && next === null; i++) {
        next = (await srv.admin('GET', '/keys')).json.next_kid;
        if (next === null) await sleep(100);
      }
      assert.ok(next && next !== oldKid, `a successor is published: ${next}`);
      assert.match(srv.stderr(), new RegExp(`published signing key ${next} in /jwks: it signs from \\S+ on, when key ${oldKid} expires`));
      assert.deepEqual((await jwksKids(srv.issuer)).sort(), [oldKid, next].sort());
      const st = ctl(srv, ['keys', 'status']).stdout;
      assert.match(st, new RegExp(`^next_kid: ${next}$`, 'm'));
      assert.match(st, /^next_signs_from: \d{4}-\d\d-\d\dT/m);
      assert.doesNotMatch(st, /ALERT/);
      assert.match(await (await fetch(`${srv.issuer}/metrics`)).text(), /^authflow_signing_key_alert 0$/m);
      if (nowS() < end - 1) assert.equal(kidOf((await signInAt(srv, s)).id_token), oldKid);

      // At the end the successor signs: some key signs at every moment,
      // and no key is made in a hurry.
      let signing = oldKid;
      while (nowS() <= end + 1) {
        signing = (await srv.admin('GET', '/keys')).json.signing_kid;
        assert.ok(signing === oldKid || signing === next, `a key signs: ${signing}`);
        await sleep(100);
      }
      assert.equal(signing, next);
      const after = await signInAt(srv, s);
      assert.equal(kidOf(after.id_token), next);
      assert.doesNotMatch(srv.stderr(), /every key of the ring had expired/);
      assert.deepEqual((await jwksKids(srv.issuer)).sort(), [oldKid, next].sort());
      const ui = await fetch(`${srv.issuer}/userinfo`, { headers: { authorization: `Bearer ${before.access_token}` } });
      assert.equal(ui.status, 200);
    } finally {
      await srv.stop();
    }
  });
});

test('an authorization code lives 60 seconds: redeemed 50 s after it was issued, refused after 61 s', { timeout: 120000 }, async () => {
  assert.ok(expiring, 'the codes were issued by the first test');
  const early = await expiring.early;
  assert.equal(early.error, undefined, `the code at 50 s: ${early.error}`);
  assert.ok(early.tokens.access_token && early.age < 60000, `redeemed ${early.age} ms after`);
  await expiring.until(61000);
  await assert.rejects(expiring.redeem(expiring.late), isError('invalid_grant'));
});

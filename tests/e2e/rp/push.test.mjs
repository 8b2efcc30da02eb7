// End-to-end: push delivery. authflow (push.mode "daemon", Redis) queues
// push jobs; pushd sends them over HTTP/2 to mock_apns and mock_fcm
// (tests/mock/), and idsim plays the phones. Every check reads what the
// mocks logged, so what is asserted is what went over the wire.
//
// Needs AF_TEST_REDIS_URL (tests/tools/with-redis.sh) and AUTHFLOW_BIN_DIR
// with authflow, pushd, idsim, mock_apns and mock_fcm.
import assert from 'node:assert/strict';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { createPrivateKey, sign as cryptoSign } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as client from 'openid-client';
import { BIN, Browser, enrollPhone, freePort, idsim, pageNumber, seed, signIn, startServer } from './lib.mjs';

const REDIRECT = 'http://127.0.0.1:9000/login/callback';
const GEN_CERTS = path.resolve('../../mock/gen_certs.sh');
const TEAM = 'ABCDE12345';
const KID = 'KEY1234567';
const TOPIC = 'com.example.authenticator';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Device tokens with scripted answers (64 hex characters each).
const tok = (c) => c.repeat(64);
const T = {
  unregistered: tok('1'),
  unavailable: tok('2'),
  expired: tok('3'),
  kill: ['4', '5', '6', '7', '8'].map(tok),
  longBusy: 'c0'.repeat(32),
  fcmGone: 'fcm-unregistered-token',
  fcmBusy: 'fcm-busy-token',
  otherTopic: 'd1'.repeat(32),
  badProvider: 'e1'.repeat(32),
  fcmOtherSender: 'fcm-other-sender-token',
  renew: 'f1'.repeat(32),
  fcmExpired: 'fcm-expired-access-token',
  fcmThirdParty: 'fcm-third-party-auth-token',
  held: 'b2'.repeat(32),
};

let dir;
let server;
let apns;
let fcm;
let apnsSection;
const pushds = [];

// Starts a mock and waits for its port file.
async function startMock(name, args) {
  const portFile = path.join(dir, `${name}.port`);
  const proc = spawn(path.join(BIN, name), [...args, '--port', '0', '--port-file', portFile], {
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  for (let i = 0; i < 200; i++) {
    if (existsSync(portFile)) {
      const port = Number(readFileSync(portFile, 'utf8').trim());
      if (port > 0) return { proc, port, log: path.join(dir, `${name}.log`) };
    }
    if (proc.exitCode !== null) break;
    await sleep(25);
  }
  throw new Error(`${name} did not start: ${stderr}`);
}

function logLines(file) {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}
const apnsPushes = (token) => logLines(apns.log).filter((l) => l.token === token);
const apnsJwts = () => logLines(apns.log).filter((l) => l.jwt_iat !== undefined);
const fcmPushes = (token) => logLines(fcm.log).filter((l) => JSON.stringify(l).includes(token) && l.access_token_issued === undefined);

async function until(what, fn, ms = 20000) {
  for (let waited = 0; waited < ms; waited += 50) {
    const v = await fn();
    if (v) return v;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

// Starts a pushd on a copy of the server's config with its own listen port
// (and log level, when given; and what tweak changes in the copy).
async function startPushd(level, tweak) {
  const cfg = JSON.parse(readFileSync(server.configPath, 'utf8'));
  const port = await freePort();
  cfg.push.listen = { address: '127.0.0.1', port };
  if (level) cfg.log = { ...cfg.log, level };
  if (tweak) tweak(cfg);
  const file = path.join(dir, `pushd-${port}.json`);
  writeFileSync(file, JSON.stringify(cfg), { mode: 0o600 });
  const proc = spawn(path.join(BIN, 'pushd'), ['--config', file], { stdio: ['ignore', 'inherit', 'pipe'] });
  const p = { proc, port, stderr: '', exited: null };
  proc.stderr.on('data', (d) => { p.stderr += d; });
  proc.on('exit', (code, sig) => { p.exited = { code, sig }; });
  await until('pushd /healthz', async () => {
    if (p.exited) throw new Error(`pushd exited ${JSON.stringify(p.exited)}: ${p.stderr}`);
    try { return (await fetch(`http://127.0.0.1:${port}/healthz`)).ok; } catch { return false; }
  });
  pushds.push(p);
  return p;
}

async function stopPushd(p, signal = 'SIGTERM') {
  if (!p.exited) {
    p.proc.kill(signal);
    await until('pushd exit', () => p.exited !== null, 15000);
  }
  return p.exited;
}

async function rp(s) {
  return client.discovery(new URL(server.issuer), s.clientId, undefined,
    client.ClientSecretBasic(s.clientSecret), { execute: [client.allowInsecureRequests] });
}

// A user with MFA on and one phone per token given as [platform, token].
async function pushUser(name, phones) {
  const s = await seed(server, { user: name, policy: { remote_access: true } });
  s.phones = [];
  for (const [platform, token] of phones) {
    s.phones.push(await enrollPhone(server, name,
      ['--platform', platform, '--push-token', token, '--app-version', '2024.1']));
  }
  s.config = await rp(s);
  return s;
}

// Password step; returns the browser on the MFA page.
async function toMfa(s) {
  const browser = new Browser();
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(s.config, {
    redirect_uri: REDIRECT, scope: 'openid', state, nonce,
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  });
  const r = await signIn(browser, server.issuer, url.href, s.user, s.password);
  assert.equal(r.status, 303, r.text);
  const mfaUrl = new URL(r.location, server.issuer).href;
  const page = await browser.get(mfaUrl);
  assert.equal(page.status, 200);
  return { browser, mfaUrl, page, verifier, state, nonce };
}

// The admin API lists a push token cut to its first 8 characters and "...".
const shown = (token) => (token.length > 8 ? `${token.slice(0, 8)}...` : token);

async function deviceOf(s, token) {
  const r = await server.admin('GET', `/users/${s.user}/devices`);
  assert.equal(r.status, 200, r.text);
  assert.ok(!r.text.includes(token), 'no whole push token in the device list');
  return r.json.devices.find((d) => d.push_token === shown(token));
}

async function jobsFor(user) {
  const q = await server.admin('GET', '/push/queue?limit=1000');
  // An entry that is not a job is listed as null.
  return q.json.jobs.filter((j) => j?.user === user);
}

before(async () => {
  if (!process.env.AF_TEST_REDIS_URL) throw new Error('needs AF_TEST_REDIS_URL (tests/tools/with-redis.sh)');
  dir = mkdtempSync(path.join(os.tmpdir(), 'authflow-push-'));
  execFileSync(GEN_CERTS, [dir]);
  const script = {
    [T.unregistered]: [{ status: 410 }],
    [T.unavailable]: [{ status: 503, retry_after: 0 }],
    // An answer longer than pushd keeps: its status still counts.
    [T.longBusy]: [{ status: 503, retry_after: 0, pad: 20000 }],
    [T.expired]: [{ status: 403, reason: 'ExpiredProviderToken' }],
    [T.fcmGone]: [{ status: 404, error: 'UNREGISTERED' }],
    [T.fcmBusy]: [{ status: 503 }],
    [T.otherTopic]: [{ status: 400, reason: 'DeviceTokenNotForTopic' }],
    [T.badProvider]: [{ status: 403, reason: 'InvalidProviderToken' }, { status: 403, reason: 'InvalidProviderToken' }],
    [T.fcmOtherSender]: [{ status: 403, error: 'SENDER_ID_MISMATCH' }],
    [T.renew]: [{ status: 403, reason: 'ExpiredProviderToken' }],
    // The access token "expired": refused from then on, so pushd gets another.
    [T.fcmExpired]: [{ status: 401 }],
    // The Firebase project has no (or a wrong) APNs key.
    [T.fcmThirdParty]: [{ error: 'THIRD_PARTY_AUTH_ERROR' }],
  };
  // The kill test: answers held back so the pushes are in flight.
  for (const t of T.kill) script[t] = [{ status: 200, delay_ms: 4000 }];
  // The stop test: an answer held back longer than the stop waits.
  script[T.held] = [{ status: 200, delay_ms: 12000 }];
  writeFileSync(path.join(dir, 'script.json'), JSON.stringify(script));
  apns = await startMock('mock_apns', ['--cert', path.join(dir, 'server.pem'), '--key', path.join(dir, 'server.key'),
    '--team-id', TEAM, '--key-id', KID, '--topic', TOPIC, '--p8-pub', path.join(dir, 'apns_pub.pem'),
    '--log', path.join(dir, 'mock_apns.log'), '--script', path.join(dir, 'script.json')]);
  fcm = await startMock('mock_fcm', ['--cert', path.join(dir, 'server.pem'), '--key', path.join(dir, 'server.key'),
    '--sa', path.join(dir, 'fcm_sa.json'), '--log', path.join(dir, 'mock_fcm.log'),
    '--script', path.join(dir, 'script.json')]);
  const apnsUrl = `https://127.0.0.1:${apns.port}`;
  const fcmUrl = `https://127.0.0.1:${fcm.port}`;
  apnsSection = {
    endpoint: apnsUrl, sandbox_endpoint: apnsUrl, team_id: TEAM, key_id: KID,
    key_file: path.join(dir, 'apns.p8'), topic: TOPIC, ca_file: path.join(dir, 'ca.pem'),
  };
  server = await startServer({
    store: 'redis',
    push: {
      mode: 'daemon',
      workers: 2,
      listen: { address: '127.0.0.1', port: await freePort() },
      apns: apnsSection,
      fcm: {
        endpoint: fcmUrl, service_account_file: path.join(dir, 'fcm_sa.json'),
        token_uri: `${fcmUrl}/token`, ca_file: path.join(dir, 'ca.pem'),
      },
    },
  });
  await startPushd();
});

after(async () => {
  for (const p of pushds) await stopPushd(p, 'SIGKILL').catch(() => {});
  if (server) await server.stop();
  for (const m of [apns, fcm]) if (m) m.proc.kill('SIGTERM');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('push delivery (pushd, redis, mock APNs and FCM)', () => {
  test('one push per device with txn, app and user, never the number; approve works', async () => {
    const apnsTok = tok('a');
    const s = await pushUser('pia', [['apns', apnsTok], ['fcm', 'fcm-token-pia']]);
    const m = await toMfa(s);
    const number = pageNumber(m.page.text);
    assert.match(number, /^[1-9][0-9]$/);
    const [a] = await until('the APNs push', () => apnsPushes(apnsTok).length > 0 && apnsPushes(apnsTok));
    const [f] = await until('the FCM push', () => fcmPushes('fcm-token-pia').length > 0 && fcmPushes('fcm-token-pia'));
    await sleep(500);
    assert.equal(apnsPushes(apnsTok).length, 1, 'one APNs push');
    assert.equal(fcmPushes('fcm-token-pia').length, 1, 'one FCM push');
    assert.equal(a.payload.app, 'Example RP');
    assert.equal(a.payload.user, 'pia');
    assert.equal(a.payload.aps.alert.body, 'pia is signing in to Example RP');
    assert.equal(a.collapse_id, a.payload.txn);
    assert.equal(a.push_type, 'alert');
    assert.equal(a.priority, 10);
    assert.ok(!JSON.stringify(a).includes(`"number"`), 'no number in the APNs push');
    assert.ok(!JSON.stringify(f).includes(`"number"`), 'no number in the FCM push');
    const p = await idsim(server, s.phones[0], ['pending']);
    const txn = p.stdout.split(' ')[0];
    assert.equal(txn, a.payload.txn, 'the push names the txn the phone sees');
    const ok = await idsim(server, s.phones[0], ['approve', txn, '--number', number]);
    assert.equal(ok.stdout, 'approved', ok.stderr);
    const flow = new URL(m.mfaUrl).searchParams.get('flow');
    const st = JSON.parse((await m.browser.get(`${server.issuer}/login/mfa/status?flow=${flow}`)).text);
    assert.equal(st.state, 'approved');
    const done = await m.browser.get(new URL(st.next, server.issuer).href);
    assert.equal(done.status, 302);
    const t = await client.authorizationCodeGrant(s.config, new URL(done.location), {
      pkceCodeVerifier: m.verifier, expectedState: m.state, expectedNonce: m.nonce,
    });
    assert.ok(t.claims().amr.includes('mfa'));
    // More sign-ins than workers: each worker keeps its one connection.
    // authflow counts each job it queues, for the backlog against pushd's.
    const queued = async () => pushdMetric(await (await fetch(`${server.issuer}/metrics`)).text(),
      'authflow_push_jobs_queued_total');
    const before = await queued();
    for (const c of ['e', 'f', '9']) {
      const other = await pushUser(`pia-${c}`, [['apns', tok(c)]]);
      await toMfa(other);
      await until(`the APNs push to ${c}`, () => apnsPushes(tok(c)).length === 1);
    }
    assert.equal(await queued(), before + 3);
    const mt = await (await fetch(`http://127.0.0.1:${pushds[0].port}/metrics`)).text();
    assert.ok(pushdMetric(mt, 'pushd_connections_open{platform="apns"}') >= 1, mt);
    const made = pushdMetric(mt, 'pushd_connections_opened_total{platform="apns"}');
    assert.ok(made >= 1 && made <= 2, `connections reused, not made per push: ${made}`);
  });

  test('a queue entry that is not a job is dropped and holds no job back', async () => {
    const url = new URL(process.env.AF_TEST_REDIS_URL);
    execFileSync('redis-cli', ['-h', url.hostname, '-p', url.port,
      'XADD', `e2e${server.port}:push`, '*', 'x', 'not ours']);
    const q = await server.admin('GET', '/push/queue?limit=1000');
    assert.equal(q.status, 200, q.text);
    const s = await pushUser('nora', [['apns', tok('0')]]);
    await toMfa(s);
    await until('the push queued after it', () => apnsPushes(tok('0')).length === 1);
    await until('the foreign entry acknowledged', async () => (await pendingCount()) === 0);
  });

  test('a queue that lost its consumer group (Redis lost its data) is taken up again', async () => {
    const url = new URL(process.env.AF_TEST_REDIS_URL);
    // Only the queue goes, as after a restart without persistence.
    execFileSync('redis-cli', ['-h', url.hostname, '-p', url.port, 'DEL', `e2e${server.port}:push`]);
    const s = await pushUser('olga', [['apns', 'ab'.repeat(32)]]);
    await toMfa(s);
    await until('the push sent after the group was made again', () => apnsPushes('ab'.repeat(32)).length === 1, 15000);
  });

  test('an unregistered token is marked invalid and gets no more pushes', async () => {
    const s = await pushUser('uma', [['apns', T.unregistered], ['fcm', T.fcmGone]]);
    await toMfa(s);
    await until('APNs token invalidated', async () => (await deviceOf(s, T.unregistered)).push_token_valid === false);
    await until('FCM token invalidated', async () => (await deviceOf(s, T.fcmGone)).push_token_valid === false);
    assert.equal(apnsPushes(T.unregistered).length, 0);
    const before2 = (await jobsFor('uma')).length;
    await toMfa(s);
    await sleep(300);
    assert.equal((await jobsFor('uma')).length, before2, 'no job for a dead token');
    // The phone sends the same token again: it stays refused, and says so.
    const again = await idsim(server, s.phones[0], ['push-token', T.unregistered]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /refused this token before: no push goes to it until a new one comes/);
    assert.equal((await deviceOf(s, T.unregistered)).push_token_valid, false);
  });

  test('a token of another app or sender is marked invalid; a refused provider token is one warning', async () => {
    const s = await pushUser('tia', [['apns', T.otherTopic], ['fcm', T.fcmOtherSender]]);
    await toMfa(s);
    await until('APNs token for another topic invalidated', async () => (await deviceOf(s, T.otherTopic)).push_token_valid === false);
    await until('FCM token of another sender invalidated', async () => (await deviceOf(s, T.fcmOtherSender)).push_token_valid === false);
    const p = await pushUser('petra', [['apns', T.badProvider]]);
    await toMfa(p);
    await sleep(1500);
    await toMfa(p);
    const said = /"level":"warn","event":"apns_jwt","msg":"key_id=KEY1234567: APNs InvalidProviderToken: the provider token is invalid: check push.apns.team_id, key_id and key_file/g;
    await until('the warning', () => (pushds.map((x) => x.stderr).join('').match(said) ?? []).length > 0);
    await sleep(1500);
    assert.equal((pushds.map((x) => x.stderr).join('').match(said) ?? []).length, 1, 'said once for the token');
  });

  test('503 then 200: delivered exactly once', async () => {
    const s = await pushUser('sam', [['apns', T.unavailable], ['fcm', T.fcmBusy]]);
    await toMfa(s);
    await until('APNs push after the retry', () => apnsPushes(T.unavailable).length > 0);
    await until('FCM push after the retry', () => fcmPushes(T.fcmBusy).length > 0);
    await sleep(1500);
    assert.equal(apnsPushes(T.unavailable).length, 1);
    assert.equal(fcmPushes(T.fcmBusy).length, 1);
    // A 503 speaks for the whole service: pushes to it paused, and said.
    const logs = pushds.map((p) => p.stderr).join('');
    assert.match(logs, /"level":"warn","event":"push","msg":"apns answered HTTP 503: no pushes go to it for \d+ ms"/);
    assert.match(logs, /"level":"warn","event":"push","msg":"fcm answered HTTP 503: no pushes go to it for \d+ ms"/);
    const m = await (await fetch(`http://127.0.0.1:${pushds[0].port}/metrics`)).text();
    assert.match(m, /^pushd_service_pauses_total\{platform="apns"\} [1-9]/m);
    assert.match(m, /^pushd_service_paused\{platform="apns"\} [01]$/m);
  });

  test('a 503 with a body longer than pushd keeps is still retried', async () => {
    const s = await pushUser('lorna', [['apns', T.longBusy]]);
    await toMfa(s);
    await until('APNs push after the retry', () => apnsPushes(T.longBusy).length > 0);
    await sleep(500);
    assert.equal(apnsPushes(T.longBusy).length, 1);
  });

  test('ExpiredProviderToken for a token younger than Apple lets one be replaced: no new token, the push fails, the log asks about the clock', async () => {
    if (apnsJwts().length === 0) {
      // A token in use first, so that the one called expired is young.
      const warm = tok('e');
      await toMfa(await pushUser('eve-warm', [['apns', warm]]));
      await until('a first push', () => apnsPushes(warm).length > 0);
    }
    const jwts = apnsJwts().length;
    const failed = async () => (await Promise.all(pushds.filter((p) => !p.exited).map(async (p) =>
      pushdMetric(await (await fetch(`http://127.0.0.1:${p.port}/metrics`)).text(),
        'pushd_pushes_total{platform="apns",outcome="failed"}')))).reduce((a, b) => a + b, 0);
    const before = await failed();
    const s = await pushUser('eve', [['apns', T.expired]]);
    await toMfa(s);
    await until('the push failed', async () => (await failed()) > before);
    await sleep(500);
    assert.equal(apnsPushes(T.expired).length, 0);
    assert.equal(apnsJwts().length, jwts, 'no new provider token: Apple would refuse it');
    const logs = pushds.map((p) => p.stderr).join('');
    // Why it failed, in the line of its outcome and in the metrics.
    assert.match(logs, /platform=apns outcome=failed attempts=1 cause=credential status=403 reason=ExpiredProviderToken"/);
    const causes = await Promise.all(pushds.filter((p) => !p.exited).map(async (p) =>
      pushdMetric(await (await fetch(`http://127.0.0.1:${p.port}/metrics`)).text(),
        'pushd_push_failures_total{platform="apns",cause="credential"}')));
    assert.ok(causes.reduce((a, b) => a + b, 0) >= 1, causes.join(' '));
    assert.match(logs, /APNs calls a provider token made \d+ s ago expired; Apple refuses a new one within 1200 s of the last, so none is made \(is the clock right\?\)/);
  });

  test('ExpiredProviderToken for a token old enough to replace: one renewal, the push sent again and delivered once', async () => {
    // The shared token is replaced by one made 25 minutes ago with the
    // team's key, as a node would have left it; pushd restarts to take it.
    const url = new URL(process.env.AF_TEST_REDIS_URL);
    const cli = (...args) => execFileSync('redis-cli', ['-h', url.hostname, '-p', url.port, '--raw', ...args]).toString().trim();
    const keys = cli('KEYS', `e2e${server.port}:apns_jwt:*`).split('\n').filter(Boolean);
    assert.equal(keys.length, 1, keys.join(' '));
    assert.ok(keys[0].startsWith(`e2e${server.port}:apns_jwt:${TEAM}:${KID}:`), keys[0]);
    for (const p of pushds) await stopPushd(p);
    const iat = Math.floor(Date.now() / 1000) - 25 * 60;
    const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const input = `${b64({ alg: 'ES256', kid: KID })}.${b64({ iss: TEAM, iat })}`;
    const sig = cryptoSign('sha256', Buffer.from(input),
      { key: createPrivateKey(readFileSync(path.join(dir, 'apns.p8'))), dsaEncoding: 'ieee-p1363' });
    const old = `${input}.${sig.toString('base64url')}`;
    cli('SET', keys[0], JSON.stringify({ jwt: old, iat }));
    const p = await startPushd('info');
    const jwts = apnsJwts().length;
    const s = await pushUser('rena', [['apns', T.renew]]);
    await toMfa(s);
    await until('the push after the renewal', () => apnsPushes(T.renew).length > 0);
    await sleep(500);
    assert.equal(apnsPushes(T.renew).length, 1, 'delivered once');
    const made = apnsJwts().slice(jwts);
    // The old token (called expired), then exactly one new one.
    assert.deepEqual(made.map((l) => l.jwt_iat === iat), [true, false], JSON.stringify(made));
    assert.ok(made[1].jwt_iat >= iat + 25 * 60 - 5, JSON.stringify(made[1]));
    assert.equal(JSON.parse(cli('GET', keys[0])).iat, made[1].jwt_iat, 'the new token shared');
    assert.match(p.stderr, /"msg":"key_id=KEY1234567 iat=\d+ renewal=forced"/);
    assert.match(p.stderr, /platform=apns outcome=sent attempts=2"/);
  });

  test('FCM 401: a new access token, the push sent again once; attempts and retries count requests, not waits', async () => {
    for (const p of pushds) await stopPushd(p);
    const p = await startPushd('info');
    const retries = async () => pushdMetric(await (await fetch(`http://127.0.0.1:${p.port}/metrics`)).text(),
      'pushd_retries_total{platform="fcm"}');
    const before = await retries();
    const s = await pushUser('fred', [['fcm', T.fcmExpired]]);
    await toMfa(s);
    await until('the FCM push after the new token', () => fcmPushes(T.fcmExpired).length > 0);
    await until('its outcome logged', () => /platform=fcm outcome=sent attempts=\d+"/.test(p.stderr));
    assert.equal(fcmPushes(T.fcmExpired).length, 1, 'delivered once');
    // The refused request and the one sent again: two, however long the
    // worker waited for the new token in between.
    assert.match(p.stderr, /platform=fcm outcome=sent attempts=2"/);
    assert.equal(await retries(), before + 1);
  });

  test('FCM THIRD_PARTY_AUTH_ERROR fails the push and says where the fault is; the access token is kept', async () => {
    const issued = () => logLines(fcm.log).filter((l) => l.access_token_issued !== undefined).length;
    const s = await pushUser('tomas', [['fcm', T.fcmThirdParty]]);
    const good = await pushUser('tomas-good', [['fcm', 'fcm-token-tomas-good']]);
    await toMfa(good);
    await until('a push with the access token in hand', () => fcmPushes('fcm-token-tomas-good').length > 0);
    const before = issued();
    await toMfa(s);
    const said = /"level":"warn","event":"fcm_answer","msg":"job=(\S+) txn=\S+ status=401 error=UNAUTHENTICATED code=THIRD_PARTY_AUTH_ERROR: FCM could not hand the push to APNs or web push: upload the APNs authentication key \(or the web push certificate\) to the Firebase project; push\.fcm's service account is not at fault"/;
    const logged = () => pushds.map((x) => x.stderr).join('');
    let job;
    await until('the warning', () => { job = logged().match(said)?.[1]; return job !== undefined; });
    await until('its outcome', () =>
      new RegExp(`job=${job} txn=\\S+ device=\\S+ platform=fcm outcome=failed attempts=1 cause=credential status=401 reason=THIRD_PARTY_AUTH_ERROR"`).test(logged()));
    // Not the device's fault: its token stays; nor pushd's: no new
    // access token, and the next push goes out with the one in hand.
    assert.equal((await deviceOf(s, T.fcmThirdParty)).push_token_valid, true);
    await toMfa(good);
    await until('the next push', () => fcmPushes('fcm-token-tomas-good').length > 1);
    assert.equal(issued(), before, 'no access token asked for');
  });

  test('a restarted pushd reuses the shared provider token; a job of an expired txn is not sent', async () => {
    const jwts = apnsJwts().length;
    for (const p of pushds) await stopPushd(p);
    const late = tok('b');
    const s = await pushUser('lee', [['apns', late]]);
    await toMfa(s);
    // The job waits in the queue until its transaction has expired.
    await sleep(31000);
    await startPushd();
    const fresh = tok('c');
    const s2 = await pushUser('liv', [['apns', fresh]]);
    await toMfa(s2);
    await until('push after restart', () => apnsPushes(fresh).length > 0);
    await sleep(500);
    assert.equal(apnsPushes(late).length, 0, 'no push for an expired txn');
    assert.equal(apnsJwts().length, jwts, 'no new provider token after the restart');
  });

  test('two pushd on one Redis, one killed mid-batch: every job delivered, each notification once', async () => {
    for (const p of pushds) await stopPushd(p);
    const a = await startPushd();
    const s = await pushUser('kim', T.kill.map((t) => ['apns', t]));
    await toMfa(s);
    // The mock holds its answers back: a's requests are in flight now.
    await until('pushes in flight', () => T.kill.every((t) => apnsPushes(t).length > 0), 10000);
    await stopPushd(a, 'SIGKILL');
    const b = await startPushd();
    await startPushd();
    // The killed node's jobs are claimed once idle, and sent again by
    // exactly one of the two survivors (the lease keeps the other off).
    await until('every job finished', async () => (await pendingCount()) === 0 &&
      T.kill.every((t) => apnsPushes(t).length >= 2), 28000);
    await sleep(1000);
    for (const t of T.kill) {
      const lines = apnsPushes(t);
      assert.equal(lines.length, 2, `the killed node's attempt and one more to ${t.slice(0, 4)}`);
      // The repeat is the same notification: one apns-id and one collapse
      // id per job, so the phone shows it once.
      assert.equal(new Set(lines.map((l) => l.apns_id)).size, 1);
      assert.equal(new Set(lines.map((l) => l.collapse_id)).size, 1);
    }
    const res = await fetch(`http://127.0.0.1:${b.port}/metrics`);
    // Idle connections close after 10 s; the response says so.
    assert.equal(res.headers.get('keep-alive'), 'timeout=10');
    const m = await res.text();
    assert.ok(pushdMetric(m, 'pushd_pushes_total{platform="apns",outcome="sent"}') >= 0);
    assert.ok(pushdMetric(m, 'pushd_workers_alive') === 2);
  });

  test('pushd keeps /metrics to metrics.allow, as authflow does; /healthz stays open', async () => {
    const p = await startPushd(undefined, (cfg) => { cfg.metrics = { allow: ['10.0.0.0/8'] }; });
    const shut = await fetch(`http://127.0.0.1:${p.port}/metrics`);
    assert.equal(shut.status, 404);
    assert.equal(await shut.text(), 'not found\n', 'the answer of an unknown path');
    assert.equal((await fetch(`http://127.0.0.1:${p.port}/healthz`)).status, 200);
    await stopPushd(p);
    // The default list lets loopback in.
    const other = pushds.find((q) => q.exited === null && q !== p) ?? await startPushd();
    const open = await fetch(`http://127.0.0.1:${other.port}/metrics`);
    assert.equal(open.status, 200);
    assert.match(await open.text(), /^pushd_workers_alive /m);
  });

  test('with push.names off, no push names the user or the application', async () => {
    for (const q of pushds) await stopPushd(q);
    const p = await startPushd(undefined, (cfg) => { cfg.push.names = false; });
    const apnsTok = 'fe'.repeat(32);
    const s = await pushUser('nina', [['apns', apnsTok], ['fcm', 'fcm-token-nina']]);
    await toMfa(s);
    const [a] = await until('the APNs push', () => apnsPushes(apnsTok).length > 0 && apnsPushes(apnsTok));
    const [f] = await until('the FCM push', () => fcmPushes('fcm-token-nina').length > 0 && fcmPushes('fcm-token-nina'));
    // What goes to Apple and Google besides the token, which is the phone's.
    for (const sent of [JSON.stringify(a.payload), JSON.stringify(f.message.data)]) {
      assert.ok(!sent.includes('nina'), `the user in ${sent}`);
      assert.ok(!sent.includes('Example RP'), `the application in ${sent}`);
    }
    assert.equal(a.payload.aps.alert.body, 'Open the app to answer it');
    assert.ok(a.payload.txn, 'the push names the txn');
    assert.deepEqual(Object.keys(f.message.data).sort(), ['exp', 'txn']);
    await stopPushd(p);
    await startPushd();
  });

  test('a pushd started before its Redis waits for it, and stops cleanly meanwhile; a Redis lost later is named in its log', { timeout: 60000 }, async () => {
    const redisPort = await freePort();
    const cfg = JSON.parse(readFileSync(server.configPath, 'utf8'));
    cfg.store = { ...cfg.store, url: `redis://127.0.0.1:${redisPort}` };
    const port = await freePort();
    cfg.push.listen = { address: '127.0.0.1', port };
    const file = path.join(dir, `pushd-wait-${port}.json`);
    writeFileSync(file, JSON.stringify(cfg), { mode: 0o600 });
    const run = () => {
      const proc = spawn(path.join(BIN, 'pushd'), ['--config', file], { stdio: ['ignore', 'ignore', 'pipe'] });
      const p = { proc, stderr: '', exited: null };
      proc.stderr.on('data', (d) => { p.stderr += d; });
      proc.on('exit', (code, sig) => { p.exited = { code, sig }; });
      return p;
    };
    let p = run();
    await sleep(1500);
    assert.equal(p.exited, null, `pushd gave up: ${p.stderr}`);
    // Meanwhile it listens (once it has bound its port): health says it
    // is not working yet.
    const waiting = await until('pushd listening', () => fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null));
    assert.equal(waiting.status, 503);
    p.proc.kill('SIGTERM');
    await until('pushd exit', () => p.exited !== null, 5000);
    assert.deepEqual(p.exited, { code: 0, sig: null }, p.stderr);
    // Started again; its Redis comes up a moment later.
    p = run();
    await sleep(700);
    const redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '',
      '--appendonly', 'no'], { stdio: 'ignore' });
    try {
      await until('pushd /healthz', async () => {
        try { return (await fetch(`http://127.0.0.1:${port}/healthz`)).ok; } catch { return false; }
      }, 15000);
      // A target of many empty parameters is answered, at once.
      const t0 = Date.now();
      const many = await fetch(`http://127.0.0.1:${port}/healthz?${Array(4000).fill('a').join('&')}`);
      assert.equal(many.status, 200);
      assert.ok(Date.now() - t0 < 3000, 'answered without waiting for the idle timeout');
      // Its Redis gone while it runs: each worker says why, and health
      // says so until it is back.
      redis.kill('SIGKILL');
      await until('the outage line', () => /"worker 0: (cannot connect to redis|redis connection lost)[^"]*; retrying/.test(p.stderr), 15000);
      assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 503);
      const again = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '',
        '--appendonly', 'no'], { stdio: 'ignore' });
      try {
        await until('pushd /healthz again', async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, 15000);
      } finally {
        again.kill('SIGKILL');
      }
      p.proc.kill('SIGTERM');
      await until('pushd exit', () => p.exited !== null, 15000);
      assert.deepEqual(p.exited, { code: 0, sig: null }, p.stderr);
    } finally {
      p.proc.kill('SIGKILL');
      redis.kill('SIGKILL');
    }
  });

  test('a pushd with no provider to send with does not start (its share of the jobs would fail); --check-config says so first', async () => {
    const cfg = JSON.parse(readFileSync(server.configPath, 'utf8'));
    delete cfg.push.apns;
    delete cfg.push.fcm;
    const file = path.join(dir, 'pushd-none.json');
    writeFileSync(file, JSON.stringify(cfg), { mode: 0o600 });
    const r = spawnSync(path.join(BIN, 'pushd'), ['--config', file], { encoding: 'utf8', timeout: 10000 });
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stderr, `pushd: ${file}: no push.apns or push.fcm section: nothing to send pushes with\n`);
    // --check-config says so without starting, and OK for a file that starts.
    const check = (f) => spawnSync(path.join(BIN, 'pushd'), ['--check-config', f], { encoding: 'utf8', timeout: 10000 });
    const bad = check(file);
    assert.equal(bad.status, 1);
    assert.equal(bad.stderr, r.stderr);
    const good = check(server.configPath);
    assert.equal(good.status, 0, good.stderr);
    assert.equal(good.stdout, `${server.configPath}: OK\n`);
    assert.equal(spawnSync(path.join(BIN, 'pushd'), ['--check-config', file, '--config', file]).status, 2);
  });

  test('SIGHUP stops nothing: pushd says it reads its configuration only at start; nor does SIGUSR1', async () => {
    const p = pushds.find((x) => !x.exited);
    p.proc.kill('SIGHUP');
    await until('the SIGHUP line', () => /SIGHUP: pushd reads its configuration only at start/.test(p.stderr));
    p.proc.kill('SIGUSR1');
    await until('the SIGUSR1 line', () => /SIGUSR1: pushd takes no action on it/.test(p.stderr));
    await sleep(300);
    assert.equal(p.exited, null);
    assert.ok((await fetch(`http://127.0.0.1:${p.port}/healthz`)).ok);
  });

  test('a second SIGTERM while a push is in flight ends pushd at once', { timeout: 60000 }, async () => {
    for (const p of pushds) await stopPushd(p);
    const p = await startPushd();
    const s = await pushUser('hal', [['apns', T.held]]);
    await toMfa(s);
    await until('the push in flight', () => apnsPushes(T.held).length > 0, 10000);
    p.proc.kill('SIGTERM');
    await sleep(1500);
    assert.equal(p.exited, null, 'the first signal waits for the push in flight');
    const t0 = Date.now();
    p.proc.kill('SIGTERM');
    await until('pushd exit', () => p.exited !== null, 5000);
    assert.deepEqual(p.exited, { code: 1, sig: null });
    assert.ok(Date.now() - t0 < 2000, `stopped ${Date.now() - t0} ms after the second signal`);
    assert.match(p.stderr, /"event":"shutdown","msg":"signal=15 again: stopping at once/);
    await startPushd();
  });

  test('one address holds at most 16 connections to pushd\'s listener', async () => {
    const p = await startPushd();
    const port = p.port;
    const idle = [];
    try {
      for (let i = 0; i < 16; i++) {
        idle.push(await new Promise((res, rej) => {
          const sock = net.connect(port, '127.0.0.1', () => res(sock));
          sock.on('error', rej);
        }));
      }
      // Silent connections take the address' slots; one more is closed at once.
      const refused = await new Promise((res) => {
        const sock = net.connect(port, '127.0.0.1', () => sock.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'));
        let got = '';
        sock.on('data', (d) => { got += d; });
        sock.on('close', () => res(got));
        sock.on('error', () => {});
        setTimeout(() => { sock.destroy(); res('still open'); }, 3000);
      });
      assert.doesNotMatch(refused, /200 OK/);
      assert.notEqual(refused, 'still open');
    } finally {
      for (const sock of idle) sock.destroy();
    }
    await until('the slots are free again', async () => {
      try { return (await fetch(`http://127.0.0.1:${port}/healthz`)).ok; } catch { return false; }
    });
    assert.deepEqual(await stopPushd(p), { code: 0, sig: null });
  });

  test('authflow --check-config refuses what starting would refuse, without a network', async () => {
    const base = JSON.parse(readFileSync(server.configPath, 'utf8'));
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'authflow-check-'));
    let n = 0;
    const check = (cfg) => {
      const file = path.join(tmp, `config-${n++}.json`);
      writeFileSync(file, JSON.stringify(cfg), { mode: 0o600 });
      return spawnSync(path.join(BIN, 'authflow'), ['--check-config', file], { encoding: 'utf8' });
    };
    const refused = (r, why) => {
      assert.equal(r.status, 1, r.stdout);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /^authflow: [^\n]+\n$/);
      assert.match(r.stderr, why);
    };
    try {
      let r = check(base);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /: OK\n$/);
      // Two files: which one was meant is not guessed.
      r = spawnSync(path.join(BIN, 'authflow'), ['--check-config', '/nonexistent.json', '--check-config', server.configPath], { encoding: 'utf8' });
      assert.equal(r.status, 2);
      assert.equal(r.stderr, 'authflow: --check-config given twice\n');
      r = spawnSync(path.join(BIN, 'authflow'), ['--demo', '--port', '1', '--port', '18418'], { encoding: 'utf8' });
      assert.equal(r.status, 2);
      assert.equal(r.stderr, 'authflow: --port given twice\n');
      // authflowctl and idsim refuse a repeated option too, but for lists.
      r = spawnSync(path.join(BIN, 'authflowctl'), ['policy', 'add', 'p1', '--sso', 'on', '--sso', 'off', '--remote-access', 'on'], { encoding: 'utf8' });
      assert.equal(r.status, 2);
      assert.equal(r.stderr, "authflowctl: policy add: --sso given twice (see 'authflowctl policy --help')\n");
      r = spawnSync(path.join(BIN, 'idsim'), ['--state', 'a.json', 'approve', 'T', '--number', '42', '--number', '43'], { encoding: 'utf8' });
      assert.equal(r.status, 2);
      assert.equal(r.stderr, "idsim: approve: --number given twice (see 'idsim --help')\n");
      // An APNs key file that holds no key.
      const notKey = path.join(tmp, 'not-a-key.p8');
      writeFileSync(notKey, 'not a key\n', { mode: 0o600 });
      refused(check({ ...base, push: { ...base.push, apns: { ...base.push.apns, key_file: notKey } } }),
        /config-\d+\.json: push\.apns\.key_file: /);
      // A service account without its client_email.
      const sa = JSON.parse(readFileSync(base.push.fcm.service_account_file, 'utf8'));
      delete sa.client_email;
      const saFile = path.join(tmp, 'sa.json');
      writeFileSync(saFile, JSON.stringify(sa), { mode: 0o600 });
      refused(check({ ...base, push: { ...base.push, fcm: { ...base.push.fcm, service_account_file: saFile } } }),
        /client_email/);
      // A Redis URL that cannot be read (no server is asked), and the password is not echoed.
      r = check({ ...base, store: { ...base.store, url: 'redis://user:s3cret-pw@127.0.0.1:99999' } });
      refused(r, /^authflow: [^:]+config-\d+\.json: store\.url: redis url must be/);
      assert.doesNotMatch(r.stderr, /s3cret-pw/);
      // The memory store's state folder: one that cannot be made, one that is a file.
      const mem = { ...base, store: { backend: 'memory' } };
      delete mem.push;
      assert.equal(check({ ...mem, state_dir: path.join(tmp, 'new-folder') }).status, 0, 'a folder it can make');
      refused(check({ ...mem, state_dir: path.join(tmp, 'no', 'such') }), /config-\d+\.json: state_dir: cannot make state folder .*no\/such/);
      refused(check({ ...mem, state_dir: notKey }), /is not a folder/);
      // Native TLS: a good pair passes; a file that is no certificate,
      // or the key of another certificate, is found before start-up.
      const keyCopy = (name) => {
        const p = path.join(tmp, `tls-${name}`);
        copyFileSync(path.join(dir, name), p);
        chmodSync(p, 0o600);
        return p;
      };
      const cert = path.join(dir, 'server.pem');
      const tlsKey = keyCopy('server.key');
      const caKey = keyCopy('ca.key');
      // Push MFA off: the push warning is not what these look at.
      const tls = (c, k) => ({
        ...mem, features: { ...mem.features, remote_access_mfa: false }, issuer: mem.issuer.replace(/^http:/, 'https:'), state_dir: path.join(tmp, 'new-folder'), tls: { cert_file: c, key_file: k },
      });
      r = check(tls(cert, tlsKey));
      assert.equal(r.status, 0, r.stderr);
      // Plain http on an address other machines reach: OK, with a warning.
      r = check({ ...mem, listen: { ...mem.listen, address: '0.0.0.0' } });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /warning: listen\.address: plain http on an address other machines can reach/);
      assert.doesNotMatch(check(mem).stderr, /warning: listen\.address/);
      // Trusting every address as a proxy: OK, with a warning; a network
      // of proxies is not warned of.
      for (const net of ['0.0.0.0/0', '::/0']) {
        r = check({ ...base, listen: { ...base.listen, trusted_proxies: ['10.0.0.0/8', net] } });
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stderr, /^authflow: [^\n]+: warning: listen\.trusted_proxies: a network of every address/);
      }
      assert.doesNotMatch(check({ ...base, listen: { ...base.listen, trusted_proxies: ['10.0.0.0/8'] } }).stderr, /warning/);
      // Push MFA on with nothing to push with: OK, with a warning; none
      // with a provider, or with push MFA off.
      r = check(mem);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /^authflow: [^\n]+: warning: push: no push\.apns or push\.fcm section: no sign-in request reaches a phone by push; phones see them only when their app asks, and users may type the token code\n$/);
      assert.doesNotMatch(check(base).stderr, /warning/);
      assert.doesNotMatch(check({ ...mem, features: { ...mem.features, remote_access_mfa: false } }).stderr, /warning/);
      // Over TLS, an http:// issuer would advertise addresses that do not answer.
      refused(check({ ...tls(cert, tlsKey), issuer: mem.issuer }), /config-\d+\.json: tls: needs an https:\/\/ issuer/);
      refused(check(tls(notKey, tlsKey)), /config-\d+\.json: tls\.cert_file: .*not-a-key\.p8 holds no PEM certificate$/m);
      refused(check(tls(cert, caKey)), /tls\.key_file: .*tls-ca\.key is not the key of the certificate in tls\.cert_file$/m);
      // Start-up reads at most 1 MiB of each: a larger file is found by the check too.
      const bigCert = path.join(tmp, 'big-cert.pem');
      writeFileSync(bigCert, Buffer.concat([readFileSync(cert), Buffer.alloc(1024 * 1024, '#')]));
      refused(check(tls(bigCert, tlsKey)), /tls\.cert_file: .*big-cert\.pem is larger than 1048576 bytes$/m);
      // An encrypted key is named as such, never asked a passphrase for.
      const encKey = path.join(tmp, 'enc.key');
      const enc = spawnSync('openssl', ['pkcs8', '-topk8', '-in', tlsKey, '-out', encKey, '-passout', 'pass:secret'], { encoding: 'utf8' });
      assert.equal(enc.status, 0, enc.stderr);
      chmodSync(encKey, 0o600);
      refused(check(tls(cert, encKey)), /tls\.key_file: .*enc\.key is an encrypted private key; give an unencrypted one$/m);
      // A certificate that ends within 30 days is still OK, with a warning.
      const shortKey = path.join(tmp, 'short.key');
      const shortCert = path.join(tmp, 'short.pem');
      const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
        '-keyout', shortKey, '-out', shortCert, '-days', '5', '-subj', '/CN=127.0.0.1'], { encoding: 'utf8' });
      assert.equal(made.status, 0, made.stderr);
      chmodSync(shortKey, 0o600);
      r = check(tls(shortCert, shortKey));
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /^authflow: [^\n]+: warning: tls\.cert_file: .*short\.pem expires on \d{4}-\d\d-\d\dT[\d:]+Z: renew it\n$/);
      // Started so, it says which file, not that the port is taken, and
      // writes nothing first: no store, no signing key.
      const bad = path.join(tmp, 'bad-tls.json');
      const badState = path.join(tmp, 'bad-tls-state');
      writeFileSync(bad, JSON.stringify({ ...tls(cert, caKey), state_dir: badState }), { mode: 0o600 });
      r = spawnSync(path.join(BIN, 'authflow'), ['--config', bad], { encoding: 'utf8', timeout: 20000 });
      assert.equal(r.status, 1);
      assert.match(r.stderr, /^authflow: [^\n]*bad-tls\.json: tls\.key_file: .*is not the key of the certificate/);
      assert.doesNotMatch(r.stderr, /cannot listen/);
      assert.ok(!existsSync(path.join(badState, 'store.aof')), 'a refused start wrote no state');
      // With the right pair it serves https, with HSTS.
      const port = await freePort();
      const good = path.join(tmp, 'good-tls.json');
      writeFileSync(good, JSON.stringify({
        ...tls(cert, tlsKey), state_dir: path.join(tmp, 'tls-state'),
        issuer: `https://127.0.0.1:${port}`, listen: { ...mem.listen, port },
      }), { mode: 0o600 });
      const proc = spawn(path.join(BIN, 'authflow'), ['--config', good], { stdio: ['ignore', 'ignore', 'pipe'] });
      try {
        const ca = readFileSync(path.join(dir, 'ca.pem'));
        const get = (p) => new Promise((res, rej) => {
          https.get({ host: '127.0.0.1', port, path: p, ca }, (s) => {
            let body = '';
            s.on('data', (d) => { body += d; });
            s.on('end', () => res({ status: s.statusCode, body, headers: s.headers }));
          }).on('error', rej);
        });
        let up = null;
        for (let i = 0; i < 100 && !up; i++) {
          try { up = await get('/healthz'); } catch { await sleep(100); }
        }
        assert.equal(up?.status, 200);
        assert.match(up.headers['strict-transport-security'], /max-age=\d+/);
        const d = JSON.parse((await get('/.well-known/openid-configuration')).body);
        assert.equal(d.issuer, `https://127.0.0.1:${port}`);
        // authflowctl trusts an organisation's own CA when told to, and
        // says why it will not talk to the server otherwise.
        const run = (env) => spawnSync(path.join(BIN, 'authflowctl'), ['status'], {
          encoding: 'utf8',
          env: { ...process.env, AUTHFLOW_URL: `https://127.0.0.1:${port}`, AUTHFLOW_ADMIN_TOKEN: server.superToken, ...env },
        });
        r = run({ AUTHFLOW_CA_FILE: '' });
        assert.equal(r.status, 3);
        assert.match(r.stderr, /certificate/i);
        r = run({ AUTHFLOW_CA_FILE: path.join(dir, 'ca.pem') });
        assert.equal(r.status, 0, r.stderr);
        // One that is no readable file (a FIFO would block the request
        // for ever) is a usage mistake, named, with no request sent.
        const fifo = path.join(tmp, 'ca-fifo');
        execFileSync('mkfifo', [fifo]);
        for (const ca of [fifo, tmp, path.join(tmp, 'no-such-ca.pem')]) {
          r = run({ AUTHFLOW_CA_FILE: ca });
          assert.equal(r.status, 2, ca);
          assert.match(r.stderr, /^authflowctl: AUTHFLOW_CA_FILE must name a readable file/);
          r = spawnSync(path.join(BIN, 'idsim'), ['--url', `https://127.0.0.1:${port}`, '--state', path.join(tmp, 'ca-phone.json'), 'enroll', 'ABCD'], {
            encoding: 'utf8', env: { ...process.env, AUTHFLOW_CA_FILE: ca }, timeout: 20000,
          });
          assert.equal(r.status, 2, ca);
          assert.equal(r.stderr, 'idsim: AUTHFLOW_CA_FILE must name a readable file (PEM certificates of the CAs to trust)\n');
        }
      } finally {
        proc.kill('SIGTERM');
      }
      // The command lines say which option lacks its value.
      for (const prog of ['authflow', 'pushd']) {
        r = spawnSync(path.join(BIN, prog), ['--config'], { encoding: 'utf8' });
        assert.equal(r.status, 2);
        assert.equal(r.stderr, `${prog}: --config needs a value; see '${prog} --help'\n`);
        r = spawnSync(path.join(BIN, prog), ['--bogus'], { encoding: 'utf8' });
        assert.equal(r.status, 2);
        assert.equal(r.stderr, `${prog}: unknown option --bogus; see '${prog} --help'\n`);
        // A file name of two lines could pass for another message.
        r = spawnSync(path.join(BIN, prog), ['--check-config', `x\n${prog}: x.json: OK`], { encoding: 'utf8' });
        assert.equal(r.status, 2);
        assert.match(r.stderr, /^[a-z]+: --check-config: the name holds a control character or is not UTF-8[^\n]*\n$/);
        // No hint about values after "--": these take none.
        r = spawnSync(path.join(BIN, prog), ['-x'], { encoding: 'utf8' });
        assert.equal(r.status, 2);
        assert.equal(r.stderr, `${prog}: unknown option -x; see '${prog} --help'\n`);
        r = spawnSync(path.join(BIN, prog), ['--check-config', 'a.json', 'b.json'], { encoding: 'utf8' });
        assert.equal(r.status, 2);
        assert.match(r.stderr, /unexpected argument:? '?b\.json/);
        for (const help of ['--help', '-h']) {
          r = spawnSync(path.join(BIN, prog), [help], { encoding: 'utf8' });
          assert.equal(r.status, 0, `${prog} ${help}`);
          assert.match(r.stdout, new RegExp(`^usage: ${prog} --config FILE`));
        }
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  test('native TLS: only TLS 1.2 and 1.3 with forward-secret AEAD ciphers; HSTS on every answer', { timeout: 60000 }, async () => {
    const base = JSON.parse(readFileSync(server.configPath, 'utf8'));
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'authflow-tls-'));
    const key = path.join(tmp, 'server.key');
    copyFileSync(path.join(dir, 'server.key'), key);
    chmodSync(key, 0o600);
    const port = await freePort();
    const cfg = {
      ...base, issuer: `https://127.0.0.1:${port}`, listen: { ...base.listen, port },
      state_dir: path.join(tmp, 'state'), store: { backend: 'memory' },
      features: { ...base.features, remote_access_mfa: false },
      tls: { cert_file: path.join(dir, 'server.pem'), key_file: key },
    };
    delete cfg.push;
    const file = path.join(tmp, 'authflow.json');
    writeFileSync(file, JSON.stringify(cfg), { mode: 0o600 });
    const proc = spawn(path.join(BIN, 'authflow'), ['--config', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr.on('data', (d) => { stderr += d; });
    const ca = readFileSync(path.join(dir, 'ca.pem'));
    const get = (p) => new Promise((resolve, reject) => {
      https.get({ host: '127.0.0.1', port, path: p, ca }, (res) => {
        res.resume();
        res.on('end', () => resolve(res));
      }).on('error', reject);
    });
    // What a client that offers only TLS (version, ciphers) gets.
    const hello = (args) => spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-CAfile',
      path.join(dir, 'ca.pem'), ...args], { input: '', encoding: 'utf8', timeout: 10000 }).stdout
      .match(/^New, (\S+), Cipher is (\S+)$/m)?.slice(1, 3);
    try {
      await until('authflow over https', async () => {
        try { return (await get('/healthz')).statusCode === 200; } catch { return false; }
      }, 15000);
      const res = await get('/.well-known/openid-configuration');
      assert.equal(res.statusCode, 200, stderr);
      assert.match(res.headers['strict-transport-security'], /^max-age=\d+/);
      assert.deepEqual(hello(['-tls1_3']), ['TLSv1.3', 'TLS_AES_128_GCM_SHA256']);
      // X25519, the key share clients send first, in one round trip: no
      // HelloRetryRequest asking for another group.
      const trace = spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-CAfile',
        path.join(dir, 'ca.pem'), '-tls1_3', '-msg'], { input: '', encoding: 'utf8', timeout: 10000 }).stdout;
      assert.match(trace, /^Server Temp Key: X25519/m);
      assert.equal(trace.match(/>>> [^\n]*ClientHello/g)?.length, 1, 'one ClientHello');
      assert.deepEqual(hello(['-tls1_3', '-ciphersuites', 'TLS_CHACHA20_POLY1305_SHA256']), ['TLSv1.3', 'TLS_CHACHA20_POLY1305_SHA256']);
      assert.deepEqual(hello(['-tls1_2']), ['TLSv1.2', 'ECDHE-ECDSA-AES128-GCM-SHA256']);
      // Refused: TLS 1.0 and 1.1, CBC, SHA-1 and CCM suites, however a
      // client insists.
      for (const args of [['-tls1'], ['-tls1_1'], ['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-SHA'],
        ['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES256-SHA384'], ['-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-CCM'],
        ['-tls1_3', '-ciphersuites', 'TLS_AES_128_CCM_SHA256']]) {
        const weak = args.includes('-cipher') ? args.map((a, i) => (args[i - 1] === '-cipher' ? `${a}@SECLEVEL=0` : a))
          : [...args, '-cipher', 'DEFAULT@SECLEVEL=0'];
        assert.deepEqual(hello(weak), ['(NONE)', '(NONE)'], args.join(' '));
      }
    } finally {
      proc.kill('SIGTERM');
      await until('authflow exit', () => proc.exitCode !== null, 15000);
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  test('embedded mode (memory store): authflow sends the pushes itself', async () => {
    const daemon = server;
    server = await startServer({ store: 'memory', push: { mode: 'embedded', workers: 1, apns: apnsSection } });
    try {
      const t = tok('d');
      const s = await pushUser('emma', [['apns', t]]);
      await toMfa(s);
      await until('the embedded push', () => apnsPushes(t).length > 0);
      assert.equal(apnsPushes(t)[0].payload.user, 'emma');
    } finally {
      const exited = await server.stop();
      server = daemon;
      assert.deepEqual(exited, { code: 0, sig: null }, 'SIGTERM stops authflow and its workers cleanly');
    }
  });
});

function pushdMetric(text, name) {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : -1;
}

// Jobs delivered to a consumer and not acknowledged yet.
async function pendingCount() {
  const url = new URL(process.env.AF_TEST_REDIS_URL);
  const out = execFileSync('redis-cli', ['-h', url.hostname, '-p', url.port,
    'XPENDING', `e2e${server.port}:push`, 'pushd']).toString();
  return Number(out.split('\n')[0]);
}

// Test harness: starts a real authflow server on a free loopback port, talks
// to its admin API, and plays a browser (cookies, forms, redirects) so that a
// real relying party (openid-client) can run the code flow against it.
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes, webcrypto } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import * as client from 'openid-client';

export const BIN = process.env.AUTHFLOW_BIN_DIR ?? path.resolve('build/bin');

// Node.js 18 (Debian 12's) has Web Crypto only as node:crypto's webcrypto;
// openid-client uses the global that later versions have.
if (globalThis.crypto === undefined) globalThis.crypto = webcrypto;

// The Set-Cookie headers of a fetch answer, one string each. Node.js 18's
// fetch has no getSetCookie(): there they come joined with ", ", which an
// Expires date also holds, so the joins are told by the name= after them.
export function setCookies(headers) {
  if (typeof headers.getSetCookie === 'function') return headers.getSetCookie();
  const joined = headers.get('set-cookie');
  return joined === null ? [] : joined.split(/,\s*(?=[!#$%&'*+.^_`|~0-9A-Za-z-]+=)/);
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Whether process pid has a socket listening on TCP port (Linux /proc).
function listensOn(pid, port) {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const inodes = new Set();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try { text = readFileSync(file, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && f[1].endsWith(hex) && f[3] === '0A') inodes.add(f[9]);
    }
  }
  let fds = [];
  try { fds = readdirSync(`/proc/${pid}/fd`); } catch { return false; }
  return fds.some((fd) => {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      return m !== null && inodes.has(m[1]);
    } catch { return false; }
  });
}

// Starts authflow with a fresh state folder. store: 'memory' or 'redis'.
// push: the config's "push" section (optional); pushd may read the same
// file (server.configPath). argon2id and limits replace those sections;
// listen adds to that section; logLevel replaces "warn"; passwords is
// the config's "passwords" section (optional); session replaces that
// section (a 2-hour timeout).
// With redis the server signs in to Redis as an ACL user with a password
// (AF_TEST_REDIS_AUTH_URL, from with-redis.sh) when there is one, unless
// redisUrl says otherwise.
export async function startServer({
  store = process.env.AF_STORE ?? 'memory', features = {}, push,
  argon2id = { m_kib: 1024, t: 1, p: 1 }, limits, listen = {}, logLevel = 'warn', storeOptions = {}, passwords, accounts,
  ulimit, // shell ulimit options for the server's open files, as '-Sn 64'
  admin = {}, // admin keys beside the two tokens, as { allow: [...] }
  session = { timeout: '2h' },
  redisUrl = process.env.AF_TEST_REDIS_AUTH_URL || process.env.AF_TEST_REDIS_URL,
} = {}) {
  if (store === 'redis' && !redisUrl) {
    throw new Error('AF_STORE=redis needs AF_TEST_REDIS_URL');
  }
  const superToken = randomBytes(32).toString('base64url');
  const adminToken = randomBytes(32).toString('base64url');
  const sha = (t) => createHash('sha256').update(t).digest('hex');
  // A port found free may be taken by another suite's server before this
  // one binds it: then the server says so and exits, and another is tried
  // (meanwhile the other answers on the port: listensOn() tells them apart).
  for (let attempt = 1; ; attempt++) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'authflow-e2e-'));
    let started = { error: 'authflow could not be started' };
    try {
      started = await launch(await freePort(), dir);
    } finally {
      if (!started.server) rmSync(dir, { recursive: true, force: true });
    }
    if (started.server) return started.server;
    if (attempt === 3 || !/Address already in use/.test(started.stderr)) {
      throw new Error(started.error);
    }
  }

  async function launch(port, dir) {
    const issuer = `http://127.0.0.1:${port}`;
    // The keys an earlier server on this port left (its prefix is the
    // port's): counters within their window would count for this one.
    if (store === 'redis' && process.env.AF_TEST_REDIS_URL) {
      execFileSync('redis-cli', ['-u', process.env.AF_TEST_REDIS_URL, 'EVAL',
        "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end", '0', `e2e${port}:*`],
      { stdio: 'ignore' });
    }
    const storeCfg = store === 'redis'
      ? { backend: 'redis', url: redisUrl, prefix: `e2e${port}:`, ...storeOptions }
      : { backend: 'memory', ...storeOptions };
    const config = {
      issuer,
      listen: { address: '127.0.0.1', port, threads: 4, ...listen },
      state_dir: dir,
      store: storeCfg,
      keys: { algorithm: 'RS256', rsa_bits: 2048 },
      session,
      features: { sso: true, remote_access_mfa: true, ...features },
      // A low cost keeps the suite fast; production uses the default.
      password_hash: { argon2id },
      admin: {
        tokens: [
          { name: 'e2e-super', role: 'superadmin', sha256: sha(superToken) },
          { name: 'e2e-admin', role: 'admin', sha256: sha(adminToken) },
        ],
        ...admin,
      },
      log: { level: logLevel },
      ...(push ? { push } : {}),
      ...(limits ? { limits } : {}),
      ...(passwords ? { passwords } : {}),
      ...(accounts ? { accounts } : {}),
    };
    const cfgPath = path.join(dir, 'authflow.json');
    writeFileSync(cfgPath, JSON.stringify(config, null, 2), { mode: 0o600 });
    const proc = ulimit
      ? spawn('sh', ['-c', `ulimit ${ulimit} && exec "$0" --config "$1"`, path.join(BIN, 'authflow'), cfgPath], {
        stdio: ['ignore', 'inherit', 'pipe'],
      })
      : spawn(path.join(BIN, 'authflow'), ['--config', cfgPath], {
        stdio: ['ignore', 'inherit', 'pipe'],
      });
    let stderr = '';
    proc.stderr.on('data', (d) => { stderr += d.toString(); });
    let exited = null;
    proc.on('exit', (code, sig) => { exited = { code, sig }; });
    const deadline = Date.now() + 15000;
    for (;;) {
      if (exited) return { stderr, error: `authflow exited: ${JSON.stringify(exited)}\n${stderr}` };
      try {
        const r = await fetch(`${issuer}/healthz`, { signal: AbortSignal.timeout(2000) });
        // Up, and not another suite's server on the port.
        if (r.ok && listensOn(proc.pid, port)) break;
      } catch { /* not up yet */ }
      if (Date.now() > deadline) {
        proc.kill('SIGKILL');
        for (let i = 0; i < 100 && !exited; i++) await sleep(50);
        return { stderr, error: `authflow did not start\n${stderr}` };
      }
      await sleep(50);
    }
    const server = {
      issuer, port, dir, proc, superToken, adminToken, configPath: cfgPath,
      stderr: () => stderr,
      async admin(method, p, body, token = superToken) {
        const r = await fetch(`${issuer}/admin/v1${p}`, {
          method,
          headers: {
            authorization: `Bearer ${token}`,
            ...(body ? { 'content-type': 'application/json' } : {}),
          },
          body: body ? JSON.stringify(body) : undefined,
        });
        const text = await r.text();
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON */ }
        return { status: r.status, json, text };
      },
      async stop() {
        if (!exited) {
          proc.kill('SIGTERM');
          for (let i = 0; i < 200 && !exited; i++) await sleep(50);
          if (!exited) proc.kill('SIGKILL');
        }
        rmSync(dir, { recursive: true, force: true });
        return exited;
      },
    };
    return { server };
  }
}

// A browser: a cookie jar, manual redirects, and form helpers.
// headers: sent with every request (as a proxy in front would add them).
export class Browser {
  constructor(headers = {}) { this.jar = new Map(); this.headers = headers; }

  cookieHeader() {
    return [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  store(res) {
    for (const c of setCookies(res.headers)) {
      const [pair, ...attrs] = c.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a));
      if (expired || value === '') this.jar.delete(name);
      else this.jar.set(name, value);
      // Session cookies only: a persistent cookie would survive a user
      // switch. The known-browser cookie is the one exception: it signs
      // nobody in (session/known.h).
      const known = /^(__Host-)?af_known$/.test(name);
      if (attrs.some((a) => /^\s*(expires|max-age)=/i.test(a)) && !expired && !known) {
        throw new Error(`persistent cookie set: ${c}`);
      }
    }
  }

  async request(url, { method = 'GET', form } = {}) {
    const headers = { ...this.headers, cookie: this.cookieHeader() };
    let body;
    if (form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(form).toString();
    }
    const res = await fetch(url, { method, headers, body, redirect: 'manual' });
    this.store(res);
    const text = await res.text();
    return { status: res.status, location: res.headers.get('location'), text, headers: res.headers };
  }

  get(url) { return this.request(url); }
  post(url, form) { return this.request(url, { method: 'POST', form }); }
}

// Hidden input values of a page, by name.
export function hiddenFields(html) {
  const out = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
    out[m[1]] = m[2].replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n)))
      .replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  }
  return out;
}

// Whether answer r is the sign-in form (what /authorize shows when a
// sign-in must be made).
export function isLoginForm(r) {
  return r.status === 200 && r.text.includes('<form method="post" action="/login">');
}

// Opens /authorize: returns { loginPage, fields } when it answers with the
// sign-in form, else { answer } (a redirect to the client when the session
// suffices, an error page).
export async function openAuthorize(browser, issuer, authorizeUrl) {
  const r = await browser.get(authorizeUrl);
  if (!isLoginForm(r)) return { answer: r };
  return { loginPage: r, fields: hiddenFields(r.text) };
}

// Signs in through the login form; returns the final answer of POST /login.
export async function signIn(browser, issuer, authorizeUrl, username, password) {
  const o = await openAuthorize(browser, issuer, authorizeUrl);
  if (o.answer) return o.answer;
  return browser.post(`${issuer}/login`, { ...o.fields, username, password });
}

// Makes a user with a password, an SSO policy, and an app deployed to all.
export async function seed(server, { user = 'alice', password = 'correct horse battery', app = {}, policy = {} } = {}) {
  const pol = await server.admin('POST', '/policies', { name: `sso-${user}`, sso: true, remote_access: false, ...policy });
  if (pol.status !== 201) throw new Error(`policy: ${pol.text}`);
  const u = await server.admin('POST', '/users', {
    username: user, name: `${user} Example`, email: `${user}@example.com`, email_verified: true, password,
  });
  if (u.status !== 201) throw new Error(`user: ${u.text}`);
  const as = await server.admin('POST', `/policies/sso-${user}/assign`, { user });
  if (as.status !== 200) throw new Error(`assign: ${as.text}`);
  const a = await server.admin('POST', '/apps', {
    name: `rp-${user}-${randomBytes(3).toString('hex')}`,
    display_name: 'Example RP',
    redirect_uris: ['http://127.0.0.1:9000/login/callback'],
    post_logout_uris: ['http://127.0.0.1:9000/signed-out'],
    allow_refresh: true,
    ...app,
  });
  if (a.status !== 201) throw new Error(`app: ${a.text}`);
  const d = await server.admin('POST', `/apps/${a.json.client_id}/deploy`, { all: true });
  if (d.status !== 200) throw new Error(`deploy: ${d.text}`);
  return { user, password, clientId: a.json.client_id, clientSecret: a.json.client_secret, metadataUrl: a.json.metadata_url };
}

// Runs idsim (the command-line phone) and returns { code, stdout, stderr }.
export function idsim(server, stateFile, args) {
  return new Promise((resolve) => {
    const p = spawn(path.join(BIN, 'idsim'), ['--url', server.issuer, '--state', stateFile, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    p.on('exit', (code) => resolve({ code, stdout: stdout.trim(), stderr: stderr.trim() }));
  });
}

// authflowctl against server (superadmin), with input on its standard
// input when given: { code, stdout, stderr }.
export function ctl(server, args, input) {
  try {
    const stdout = execFileSync(path.join(BIN, 'authflowctl'), args, {
      env: { ...process.env, AUTHFLOW_URL: server.issuer, AUTHFLOW_ADMIN_TOKEN: server.superToken },
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      ...(input === undefined ? {} : { input }),
    }).toString();
    return { code: 0, stdout, stderr: '' };
  } catch (e) {
    return { code: e.status, stdout: e.stdout.toString(), stderr: e.stderr.toString() };
  }
}

// Enrolls a new idsim phone for user; returns its state file path.
export async function enrollPhone(server, user, extra = []) {
  const ec = await server.admin('POST', `/users/${encodeURIComponent(user)}/enroll-code`);
  if (ec.status !== 201) throw new Error(`enroll-code: ${ec.text}`);
  const file = path.join(server.dir, `phone-${user}-${randomBytes(4).toString('hex')}.json`);
  const r = await idsim(server, file, ['enroll', ec.json.code, ...extra]);
  if (r.code !== 0) throw new Error(`idsim enroll: ${r.stderr}`);
  return file;
}

// The enrollment code shown on a page (in groups of four), or null.
export function shownEnrollCode(html) {
  const m = html.match(/<code>((?:<span class="nowrap">[A-Z2-7]{1,4}<\/span> ?)+)<\/code>/);
  return m ? m[1].replace(/<[^>]+>| /g, '') : null;
}

// The number shown on an MFA page, or null.
export function pageNumber(html) {
  const m = html.match(/<p class="number"[^>]*>(\d+)<\/p>/);
  return m ? m[1] : null;
}

// The relying party's configuration for seeded app s, by discovery.
export function discover(server, s) {
  return client.discovery(new URL(server.issuer), s.clientId, undefined,
    client.ClientSecretBasic(s.clientSecret), { execute: [client.allowInsecureRequests] });
}

// An authorization request with PKCE, state and nonce, scope openid
// profile unless extra says otherwise: { url, verifier, state, nonce }.
export async function authRequest(config, extra = {}) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: 'http://127.0.0.1:9000/login/callback', scope: 'openid profile',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256', state, nonce, ...extra,
  });
  return { url, verifier, state, nonce };
}

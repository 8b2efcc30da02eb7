// End-to-end: the sign-in pages as people using a screen reader, a
// keyboard, zoom or a small screen meet them (WCAG 2.1 AA): the sign-in
// form, the MFA page, the token-code form, the error and refusal pages,
// enrollment, the sign-out question, the form_post page, the stylesheet
// and the branding colours; on the store backend from AF_STORE.
import assert from 'node:assert/strict';
import vm from 'node:vm';
import { after, before, describe, test } from 'node:test';
import { authRequest, Browser, discover, enrollPhone, hiddenFields, idsim, openAuthorize, pageNumber, seed, signIn, startServer } from './lib.mjs';

const STORE = process.env.AF_STORE ?? 'memory';

let server;
before(async () => { server = await startServer({ store: STORE }); });
after(async () => { await server.stop(); });

const rp = (s) => discover(server, s);
const authUrl = async (config, extra) => (await authRequest(config, extra)).url.href;

// The attributes of one start tag, by name (a bare attribute is '').
function attrs(tag) {
  const out = {};
  const inner = tag.replace(/^<[a-z0-9]+/i, '').replace(/\/?>$/, '');
  for (const m of inner.matchAll(/([a-zA-Z-]+)(?:="([^"]*)")?/g)) out[m[1]] = m[2] ?? '';
  return out;
}

// The start tags of an element type, with their attributes.
const tags = (html, name) => [...html.matchAll(new RegExp(`<${name}\\b[^>]*>`, 'g'))].map((m) => ({ tag: m[0], a: attrs(m[0]) }));

// The element with id in html: { a, inner } (inner up to the first close
// of the same type, enough for the flat markup of these pages).
function byId(html, id) {
  const m = html.match(new RegExp(`<([a-z0-9]+)\\b[^>]* id="${id}"[^>]*>`));
  if (!m) return null;
  const start = m.index + m[0].length;
  const end = html.indexOf(`</${m[1]}>`, start);
  return { a: attrs(m[0]), inner: html.slice(start, end), start, end };
}

const text = (html) => html.replace(/<[^>]+>/g, '').replace(/\s+/g, ' ').trim();

// What every page must be, whatever it shows: English, a title that says
// what the page is, one h1, no inline script or style (the CSP forbids
// them), zoomable, every field labelled, every button typed, every link
// with words, every reference to an id resolved.
function checkPage(r, title) {
  const html = r.text;
  assert.match(r.headers.get('content-type'), /^text\/html/);
  assert.match(html, /^<!doctype html>\n<html lang="en">/);
  const t = html.match(/<title>([^<]*)<\/title>/);
  assert.ok(t, 'a title');
  assert.match(t[1], title);
  const h1 = html.match(/<h1>/g) ?? [];
  assert.equal(h1.length, 1, 'one h1');
  // The CSP holds: no inline script, style or handlers.
  const csp = r.headers.get('content-security-policy');
  assert.match(csp, /script-src 'self';/);
  assert.match(csp, /style-src 'self';/);
  assert.doesNotMatch(csp, /unsafe-inline/);
  assert.doesNotMatch(html, /<style|\sstyle="|\son[a-z]+="/i);
  for (const s of tags(html, 'script')) assert.ok(s.a.src?.startsWith('/static/'), `external script: ${s.tag}`);
  assert.doesNotMatch(html, /<script[^>]*>[^<]/, 'no script in the page itself');
  // Zoom stays allowed (WCAG 1.4.4, 1.4.10).
  const vp = tags(html, 'meta').find((m) => m.a.name === 'viewport');
  assert.ok(vp, 'a viewport');
  assert.doesNotMatch(vp.a.content, /user-scalable|maximum-scale/);
  // Ids are unique; references resolve.
  const ids = tags(html, '[a-z0-9]+').map((x) => x.a.id).filter((x) => x !== undefined);
  assert.equal(new Set(ids).size, ids.length, `unique ids: ${ids}`);
  for (const x of tags(html, '[a-z0-9]+')) {
    for (const ref of ['aria-describedby', 'aria-labelledby', 'for']) {
      if (x.a[ref] === undefined) continue;
      for (const id of x.a[ref].split(' ')) assert.ok(ids.includes(id), `${ref}="${id}" resolves`);
    }
  }
  // Fields: a label each, by for/id.
  for (const i of tags(html, 'input').filter((x) => x.a.type !== 'hidden')) {
    assert.ok(i.a.id, `an id: ${i.tag}`);
    assert.match(html, new RegExp(`<label for="${i.a.id}">[^<]+</label>`), `a label for ${i.a.id}`);
  }
  // Buttons say what they are; links say where they go.
  for (const b of tags(html, 'button')) assert.ok(['submit', 'button'].includes(b.a.type), `typed: ${b.tag}`);
  for (const m of html.matchAll(/<button\b[^>]*>([^<]*)<\/button>/g)) assert.ok(m[1].trim(), 'a button with words');
  for (const m of html.matchAll(/<a\b[^>]*>(.*?)<\/a>/g)) {
    assert.ok(text(m[1]).length > 0, `a link with words: ${m[0]}`);
    assert.doesNotMatch(text(m[1]), /^(here|click here|more)$/i);
  }
  // At most one field takes the focus.
  assert.ok((html.match(/ autofocus[ >]/g) ?? []).length <= 1, 'one autofocus at most');
  return html;
}

// The one input named name.
function field(html, name) {
  const f = tags(html, 'input').filter((x) => x.a.name === name);
  assert.equal(f.length, 1, `one ${name} field`);
  return f[0].a;
}

// A user with MFA and an enrolled phone that answers no push (idsim).
async function mfaUser(name) {
  const s = await seed(server, { user: name, policy: { remote_access: true } });
  s.phone = await enrollPhone(server, name, ['--platform', 'none', '--app-version', '2024.1']);
  s.config = await rp(s);
  return s;
}

// The MFA page after the password: { browser, url, page }.
async function toMfa(s) {
  const browser = new Browser();
  const r = await signIn(browser, server.issuer, await authUrl(s.config), s.user, s.password);
  assert.equal(r.status, 303, r.text);
  const url = new URL(r.location, server.issuer).href;
  const page = await browser.get(url);
  assert.equal(page.status, 200, page.text);
  return { browser, url, page };
}

// A six-digit code that is not the phone's current one.
async function wrongCode(s) {
  const right = (await idsim(server, s.phone, ['code'])).stdout;
  assert.match(right, /^\d{6}$/);
  return right.slice(0, 5) + String((Number(right[5]) + 5) % 10);
}

// The WCAG contrast ratio of two #rrggbb colours.
function luminance(hex) {
  const h = hex.replace('#', '');
  const full = h.length === 3 ? [...h].map((c) => c + c).join('') : h;
  const ch = [0, 2, 4].map((i) => parseInt(full.slice(i, i + 2), 16) / 255)
    .map((c) => (c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2];
}
function contrast(a, b) {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

// The stylesheet as { selector: declarations } (no nested rules).
function rules(css) {
  const out = {};
  for (const m of css.matchAll(/([^{}]+)\{([^{}]*)\}/g)) {
    for (const sel of m[1].split(',')) out[sel.trim()] = `${out[sel.trim()] ?? ''};${m[2]}`;
  }
  return out;
}
const decl = (r, sel, prop) => {
  const m = (r[sel] ?? '').match(new RegExp(`(?:^|;)${prop}:([^;]+)`));
  return m ? m[1].trim() : null;
};
const hexIn = (v) => v?.match(/#[0-9a-fA-F]{6}\b|#[0-9a-fA-F]{3}\b/)?.[0] ?? null;
// The colour of a var(--x,#default) or a plain colour.
const colour = (v) => hexIn(v?.includes('var(') ? v.replace(/^.*,/, '') : v);

describe(`sign-in pages (${STORE} store)`, () => {
  test('the sign-in form: title, one h1, labelled fields with autocomplete, the cursor in the first field', async () => {
    const s = await seed(server, { user: 'ada' });
    const o = await openAuthorize(new Browser(), server.issuer, await authUrl(await rp(s)));
    const html = checkPage(o.loginPage, /^Sign in$/);
    assert.match(html, /<h1>Sign in<\/h1><p class="app">to continue to Example RP<\/p>/);
    const user = field(html, 'username');
    const pass = field(html, 'password');
    assert.equal(user.id, 'username');
    assert.equal(user.autocomplete, 'username');
    assert.equal(user.autocapitalize, 'none');
    assert.equal(user.autofocus, '');
    assert.equal(pass.id, 'password');
    assert.equal(pass.type, 'password');
    assert.equal(pass.autocomplete, 'current-password');
    // Nothing is in error before anything was typed.
    for (const f of [user, pass]) {
      assert.equal(f['aria-invalid'], undefined);
      assert.equal(f['aria-describedby'], undefined);
    }
    assert.match(html, /<button type="submit">Sign in<\/button>/);
  });

  test('a wrong or missing password: the title says so, the message is tied to the fields', async () => {
    const s = await seed(server, { user: 'bea' });
    const b = new Browser();
    const o = await openAuthorize(b, server.issuer, await authUrl(await rp(s)));
    for (const [password, status] of [['wrong', 401], ['', 400]]) {
      const r = await b.post(`${server.issuer}/login`, { ...o.fields, username: s.user, password });
      assert.equal(r.status, status);
      const html = checkPage(r, /^Error: Sign in$/);
      const err = byId(html, 'err');
      assert.ok(err, 'the message has an id');
      assert.equal(err.a.role, 'alert');
      assert.match(err.inner, status === 401 ? /Wrong user name or password/ : /^Enter your password\.$/);
      const user = field(html, 'username');
      const pass = field(html, 'password');
      // A wrong pair marks both; an empty password, that field alone.
      for (const f of status === 401 ? [user, pass] : [pass]) {
        assert.equal(f['aria-describedby'], 'err');
        assert.equal(f['aria-invalid'], 'true');
      }
      if (status === 400) assert.equal(user['aria-invalid'], undefined);
      // The user name is kept; the cursor goes to the password.
      assert.equal(user.value, s.user);
      assert.equal(pass.autofocus, '');
      assert.equal(user.autofocus, undefined);
    }
    // Past the free tries the wait is in the title, not an error of typing.
    let r;
    for (let i = 0; i < 8; i++) {
      r = await b.post(`${server.issuer}/login`, { ...o.fields, username: s.user, password: 'wrong' });
      if (r.status === 429) break;
    }
    assert.equal(r.status, 429);
    checkPage(r, /^Wait before trying again: Sign in$/);
    assert.equal((await server.admin('POST', `/users/${s.user}/unlock`)).status, 200);
  });

  test('the new-password form of a temporary password: labelled fields, the rules tied to the field, errors marked', async () => {
    const s = await seed(server, { user: 'pwc-page' });
    const put = await server.admin('PUT', '/users/pwc-page/password', { password: 'Given-Once-7391', temporary: true });
    assert.equal(put.status, 200, put.text);
    const b = new Browser();
    const r = await signIn(b, server.issuer, await authUrl(await rp(s)), 'pwc-page', 'Given-Once-7391');
    assert.equal(r.status, 303, r.text);
    const page = await b.get(new URL(r.location, server.issuer).href);
    let html = checkPage(page, /^Choose a new password$/);
    const user = field(html, 'username');
    assert.equal(user.value, 'pwc-page');
    assert.equal(user.readonly, '');
    assert.equal(user.autocomplete, 'username');
    let pass = field(html, 'password');
    const again = field(html, 'confirm');
    assert.equal(pass.type, 'password');
    assert.equal(pass.autocomplete, 'new-password');
    assert.equal(again.autocomplete, 'new-password');
    assert.equal(pass.minlength, '8');
    assert.equal(pass.autofocus, '');
    assert.equal(pass['aria-describedby'], 'rules');
    assert.match(byId(html, 'rules').inner, /At least 8 characters/);
    assert.equal(pass['aria-invalid'], undefined);
    assert.match(html, /<button type="submit" name="cancel" value="1" class="secondary">Cancel sign-in<\/button>/);
    const fields = hiddenFields(page.text);
    const bad = await b.post(`${server.issuer}/login/password`, { ...fields, password: 'short', confirm: 'short' });
    assert.equal(bad.status, 400);
    html = checkPage(bad, /^Error: Choose a new password$/);
    const err = byId(html, 'err');
    assert.equal(err.a.role, 'alert');
    assert.match(err.inner, /^Choose another password: it must be at least 8 characters\.$/);
    pass = field(html, 'password');
    assert.equal(pass['aria-describedby'], 'err rules');
    assert.equal(pass['aria-invalid'], 'true');
    assert.equal(field(html, 'confirm')['aria-invalid'], undefined);
    // Two different passwords: the second field is the one in error.
    const differ = await b.post(`${server.issuer}/login/password`, { ...fields, password: 'a fine new one', confirm: 'a fine new two' });
    assert.equal(differ.status, 400);
    html = checkPage(differ, /^Error: Choose a new password$/);
    assert.equal(field(html, 'confirm')['aria-invalid'], 'true');
    assert.equal(field(html, 'confirm')['aria-describedby'], 'err');
    assert.equal(field(html, 'password')['aria-invalid'], undefined);
    assert.match(byId(html, 'rules').inner, /repeated or in a run/);
    // A listed password: asked for another once, not twice.
    const listed = await b.post(`${server.issuer}/login/password`, { ...fields, password: 'password1', confirm: 'password1' });
    assert.equal(listed.status, 400);
    assert.match(byId(checkPage(listed, /^Error: Choose a new password$/), 'err').inner,
      /^Choose another password: it is on the list of common and breached passwords\.$/);
  });

  test('the account\'s password form: the current password first, each error on its own field', async () => {
    const s = await seed(server, { user: 'pwc-own' });
    const b = new Browser();
    const r = await signIn(b, server.issuer, await authUrl(await rp(s)), s.user, s.password);
    assert.equal(r.status, 302, r.text);
    const url = `${server.issuer}/account/password`;
    const page = await b.get(url);
    let html = checkPage(page, /^Change your password$/);
    const cur = field(html, 'current');
    assert.equal(cur.type, 'password');
    assert.equal(cur.autocomplete, 'current-password');
    assert.equal(cur.autofocus, '');
    assert.equal(field(html, 'password').autofocus, undefined);
    assert.equal(field(html, 'password').autocomplete, 'new-password');
    assert.equal(field(html, 'username').value, 'pwc-own');
    const { csrf } = hiddenFields(page.text);
    let bad = await b.post(url, { csrf, current: 'wrong wrong', password: 'a good new one', confirm: 'a good new one' });
    assert.equal(bad.status, 401);
    html = checkPage(bad, /^Error: Change your password$/);
    assert.equal(field(html, 'current')['aria-invalid'], 'true');
    assert.equal(field(html, 'current')['aria-describedby'], 'err');
    assert.equal(field(html, 'password')['aria-invalid'], undefined);
    assert.equal(field(html, 'password')['aria-describedby'], 'rules');
    bad = await b.post(url, { csrf, current: s.password, password: 'short', confirm: 'short' });
    assert.equal(bad.status, 400);
    html = checkPage(bad, /^Error: Change your password$/);
    assert.equal(field(html, 'current')['aria-invalid'], undefined);
    assert.equal(field(html, 'password')['aria-invalid'], 'true');
    assert.equal(field(html, 'password')['aria-describedby'], 'err rules');
    const ok = await b.post(url, { csrf, current: s.password, password: 'a good new one', confirm: 'a good new one' });
    assert.equal(ok.status, 200, ok.text);
    html = checkPage(ok, /^Password changed$/);
    assert.match(html, /role="status"/);
  });

  test('where you are signed in: each browser, this one marked; the others signed out by a post with the form token', async () => {
    const s = await seed(server, { user: 'sess-own' });
    const config = await rp(s);
    const firefox = new Browser({ 'user-agent': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0' });
    const safari = new Browser({ 'user-agent': 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1' });
    for (const b of [firefox, safari]) {
      const r = await signIn(b, server.issuer, await authUrl(config), s.user, s.password);
      assert.equal(r.status, 302, r.text);
    }
    const url = `${server.issuer}/account/sessions`;
    // Not signed in: said so, nothing listed.
    const anon = await new Browser().get(url);
    assert.equal(anon.status, 401);
    checkPage(anon, /^Sign in first$/);
    const page = await firefox.get(url);
    assert.equal(page.status, 200);
    let html = checkPage(page, /^Where you are signed in$/);
    assert.match(text(html), /Firefox on Windows \(this browser\): from 127\.0\.0\.1, signed in \d{4}-\d\d-\d\d \d\d:\d\d UTC/);
    assert.match(text(html), /Safari on iOS: from 127\.0\.0\.1/);
    // What each signed into, by the name its users see.
    assert.match(text(html), /Safari on iOS: from 127\.0\.0\.1, signed in [^;]*; ends [^;]*; signed into Example RP/);
    // When each ends by itself: the server's 2-hour timeout, which use does not move.
    const m = /Firefox on Windows \(this browser\): from 127\.0\.0\.1, signed in (\d{4}-\d\d-\d\d \d\d:\d\d) UTC, last used [^;]*; ends (\d{4}-\d\d-\d\d \d\d:\d\d) UTC;/.exec(text(html));
    assert.ok(m, text(html));
    const minutes = (Date.parse(`${m[2]}Z`) - Date.parse(`${m[1]}Z`)) / 60000;
    assert.ok(minutes === 120 || minutes === 121, `${m[1]} -> ${m[2]}`);
    assert.match(html, /<a href="\/account\/password">change your password<\/a>/);
    // The account's pages link each other (WCAG 2.4.5), this one named.
    assert.match(html, /<nav aria-label="Your account"><ul><li aria-current="page">Where you are signed in<\/li><li><a href="\/account\/password">Change your password<\/a><\/li><li><a href="\/enroll">Add a phone<\/a><\/li><li><a href="\/logout">Sign out<\/a><\/li><\/ul><\/nav>/);
    const pw = checkPage(await firefox.get(`${server.issuer}/account/password`), /^Change your password$/);
    assert.match(pw, /<li aria-current="page">Change your password<\/li><li><a href="\/enroll">/);
    // Another site's post (no token) ends nothing.
    const forged = await firefox.post(url, { csrf: 'x'.repeat(43) });
    assert.equal(forged.status, 400);
    assert.match(text((await safari.get(url)).text), /Safari on iOS \(this browser\)/);
    const { csrf } = hiddenFields(page.text);
    const done = await firefox.post(url, { csrf });
    assert.equal(done.status, 200);
    html = checkPage(done, /^Where you are signed in$/);
    assert.match(html, /<p class="msg info" role="status">1 other browser was signed out\.<\/p>/);
    assert.doesNotMatch(text(html), /Safari/);
    assert.doesNotMatch(html, /<form/, 'nothing left to sign out');
    // The other browser is signed out; this one is not.
    assert.equal((await safari.get(url)).status, 401);
    assert.equal((await firefox.get(url)).status, 200);
  });

  test('where you are signed in, with an idle timeout: each browser ends that long after its last use, if left unused', async () => {
    const idle = await startServer({ store: STORE, session: { timeout: '8h', idle_timeout: '30m' } });
    try {
      const s = await seed(idle, { user: 'sess-idle' });
      const b = new Browser();
      const r = await signIn(b, idle.issuer, await authUrl(await discover(idle, s)), s.user, s.password);
      assert.equal(r.status, 302, r.text);
      const html = checkPage(await b.get(`${idle.issuer}/account/sessions`), /^Where you are signed in$/);
      const m = /last used (\d{4}-\d\d-\d\d \d\d:\d\d) UTC; ends (\d{4}-\d\d-\d\d \d\d:\d\d) UTC if left unused/.exec(text(html));
      assert.ok(m, text(html));
      const minutes = (Date.parse(`${m[2]}Z`) - Date.parse(`${m[1]}Z`)) / 60000;
      assert.ok(minutes === 30 || minutes === 31, `${m[1]} -> ${m[2]}`);
    } finally {
      await idle.stop();
    }
  });

  test('where you are signed in, with more browsers than a user keeps: this one first, and every other signed out', async () => {
    const s = await seed(server, { user: 'sess-many' });
    const config = await rp(s);
    let last;
    for (let i = 0; i < 70; i++) {
      last = new Browser();
      const r = await signIn(last, server.issuer, await authUrl(config), s.user, s.password);
      assert.equal(r.status, 302, r.text);
    }
    const url = `${server.issuer}/account/sessions`;
    const page = await last.get(url);
    assert.equal(page.status, 200);
    assert.match(text(page.text), /change your password\.\s*A browser \(this browser\): from/);
    const done = await last.post(url, { csrf: hiddenFields(page.text).csrf });
    assert.equal(done.status, 200);
    assert.match(done.text, /role="status">\d+ other browsers were signed out\.</);
    const left = (await server.admin('GET', '/sessions?user=sess-many')).json.sessions;
    assert.equal(left.length, 1, 'only this browser is left');
  });

  test('the MFA page: the number in a status region, the countdown outside any live region, the code field', async () => {
    const s = await mfaUser('cai');
    const m = await toMfa(s);
    const html = checkPage(m.page, /^Confirm on your phone$/);
    assert.match(html, /<h1>Confirm on your phone<\/h1>/);
    assert.match(html, /<h2>Use a token code instead<\/h2>/);
    // The number, as a plain number (read out as one), in the region
    // that speaks when the script changes it.
    const number = pageNumber(html);
    assert.match(number, /^[1-9][0-9]$/);
    const region = byId(html, 'mfa');
    assert.equal(region.a.role, 'status');
    assert.match(region.a['data-status'], /^\/login\/mfa\/status\?flow=/);
    assert.match(region.inner, new RegExp(`<p class="number">${number}</p>`));
    assert.match(region.inner, /Signing in to Example RP/);
    // The countdown ticks every second: it is outside every live region,
    // and the quiet region that speaks once near the end starts empty.
    const cd = html.indexOf('id="countdown"');
    assert.ok(cd > region.end, 'the countdown is outside the status region');
    assert.match(html, /The request expires in <strong id="countdown">\d+<\/strong> seconds\./);
    const say = byId(html, 'mfa-say');
    assert.equal(say.a.role, 'status');
    assert.equal(say.a.class, 'sr');
    assert.equal(say.inner, '');
    for (const live of tags(html, '[a-z0-9]+').filter((x) => x.a['aria-live'] !== undefined)) {
      assert.fail(`no aria-live besides the status regions: ${live.tag}`);
    }
    // Without script, a link goes on; nothing refreshes the page.
    assert.match(html, /<noscript><p>Once you have answered on your phone, <a href="\/login\/mfa\?flow=[^"]+">continue<\/a>\.<\/p><\/noscript>/);
    assert.ok(html.indexOf('<noscript>') > html.indexOf('class="number"'), 'read after the number it is about');
    assert.doesNotMatch(html, /http-equiv="refresh"/);
    // The token-code field: numeric, six digits, filled in by the phone's
    // one-time-code autofill; it does not take the focus away from the
    // number.
    const code = field(html, 'code');
    assert.equal(code.id, 'code');
    assert.equal(code.inputmode, 'numeric');
    assert.equal(code.pattern, ' *([0-9] *){6}', 'a code copied as "123 456" or " 12 34 56 " fits');
    assert.match(code.title, /spaces/);
    assert.equal(code.maxlength, '16');
    assert.equal(code.autocomplete, 'one-time-code');
    assert.equal(code.autofocus, undefined);
    assert.equal(code['aria-invalid'], undefined);
    assert.match(html, /<label for="code">Six-digit token code<\/label>/);
    // The pad is hidden until the script shows it (without script its
    // buttons would do nothing), is a named group, and has a Clear key.
    const pad = html.match(/<div class="pad"[^>]*>/)[0];
    assert.equal(attrs(pad).hidden, '');
    assert.equal(attrs(pad).role, 'group');
    assert.equal(attrs(pad)['aria-label'], 'Number pad');
    assert.match(html, /<button type="button" class="secondary" tabindex="-1" data-digit-clear>Clear<\/button>/);
    // Out of the tab order: the field's submit button is the next stop.
    const at = html.indexOf(pad);
    const keys = tags(html.slice(at, html.indexOf('</div>', at)), 'button');
    assert.equal(keys.length, 11);
    assert.ok(keys.every((k) => k.a.tabindex === '-1'), 'no key of the pad is a tab stop');
    // The buttons say what they do.
    assert.match(html, /<button type="submit">Use this code<\/button>/);
    assert.match(html, /<button type="submit" class="secondary">Cancel sign-in<\/button>/);
    // Cancelling: a page that says so, with a way to start again.
    const f = hiddenFields(html);
    const c = await m.browser.post(`${server.issuer}/login/mfa/cancel`, { flow: f.flow, csrf: f.csrf });
    const out = checkPage(c, /^Cancelled: Sign-in not completed$/);
    assert.match(out, /<p class="msg" role="alert">The sign-in was cancelled\.<\/p>/);
    assert.match(out, /<a href="\/login\?flow=[^"]+">Start again<\/a>/);
  });

  test('a wrong token code: the title says so, the field is marked, described and focused', async () => {
    const s = await mfaUser('dov');
    const m = await toMfa(s);
    const f = hiddenFields(m.page.text);
    const r = await m.browser.post(`${server.issuer}/login/mfa/code`, { flow: f.flow, csrf: f.csrf, code: await wrongCode(s) });
    assert.equal(r.status, 401, r.text);
    const html = checkPage(r, /^Error: Confirm on your phone$/);
    const err = byId(html, 'code-err');
    assert.equal(err.a.role, 'alert');
    assert.match(err.inner, /not right/);
    // And how many more may be typed before the sign-in ends.
    assert.match(err.inner, /4 more tries before this sign-in ends\./);
    const code = field(html, 'code');
    assert.equal(code['aria-invalid'], 'true');
    assert.equal(code['aria-describedby'], 'code-err');
    assert.equal(code.autofocus, '');
    // The push still waits: its number is still shown.
    assert.ok(pageNumber(html));
  });

  test('the token-code page (no push): the field takes the focus and the notice describes it', async () => {
    const s = await mfaUser('eli');
    assert.equal((await server.admin('PATCH', '/workflow', { legacy: true })).status, 200);
    try {
      const m = await toMfa(s);
      const html = checkPage(m.page, /^Enter your token code$/);
      assert.match(html, /<h1>Enter your token code<\/h1>/);
      assert.equal(pageNumber(html), null);
      assert.equal(byId(html, 'mfa'), null, 'no push part');
      const note = byId(html, 'code-note');
      assert.match(note.inner, /six-digit code/);
      const code = field(html, 'code');
      assert.equal(code.autofocus, '');
      assert.equal(code['aria-describedby'], 'code-note');
      // A wrong code there: both the message and the notice describe it.
      const f = hiddenFields(html);
      const r = await m.browser.post(`${server.issuer}/login/mfa/code`, { flow: f.flow, csrf: f.csrf, code: await wrongCode(s) });
      assert.equal(r.status, 401);
      const again = checkPage(r, /^Error: Enter your token code$/);
      assert.equal(field(again, 'code')['aria-describedby'], 'code-err code-note');
    } finally {
      await server.admin('PATCH', '/workflow', { legacy: false });
    }
  });

  test('the MFA page script: the countdown speaks once near the end; the pad shows and clears', async () => {
    const js = await (await fetch(`${server.issuer}/static/mfa.js`)).text();
    const listen = (o) => Object.assign(o, {
      handlers: {},
      addEventListener(type, fn) { this.handlers[type] = fn; },
    });
    const code = { value: '' };
    const digits = ['4', '2'].map((d) => listen({ getAttribute: () => d }));
    const clear = listen({});
    const pad = { hidden: true };
    const num = { textContent: '42' };
    const cd = { textContent: '30', parentNode: { hidden: false } };
    const said = [];
    const say = {
      get textContent() { return said.at(-1) ?? ''; },
      set textContent(v) { said.push(v); },
    };
    const m = {
      textContent: 'the push part',
      children: [],
      getAttribute: (a) => ({ 'data-status': '/login/mfa/status?flow=F1', 'data-expires-in': '30' })[a],
      querySelector: (q) => (q === '.number' ? num : null),
      appendChild(c) { this.children.push(c); },
    };
    const document = {
      getElementById: (id) => ({ code, mfa: m, countdown: cd, 'mfa-say': say })[id] ?? null,
      querySelectorAll: (q) => ({ '[data-digit]': digits, '[data-digit-clear]': [clear], '.pad': [pad] })[q] ?? [],
      createElement: (tag) => ({ tag, href: '', textContent: '' }),
      createTextNode: (text) => ({ text }),
    };
    const ticks = [];
    const timers = [];
    const went = [];
    let answer = { state: 'pending', number: 42, expires_in: 30 };
    let clock = 1_000_000;
    vm.runInNewContext(js, {
      document,
      Date: { now: () => clock },
      window: { location: { replace: (u) => went.push(u) } },
      fetch: async () => ({ json: async () => answer }),
      setTimeout: (fn) => timers.push(fn),
      setInterval: (fn) => { ticks.push(fn); return 1; },
      clearInterval: () => {},
    });
    assert.equal(pad.hidden, false, 'the script shows the pad');
    for (const d of digits) d.handlers.click({ target: d });
    assert.equal(code.value, '42');
    clear.handlers.click({});
    assert.equal(code.value, '', 'Clear empties the field');
    // Thirty seconds, ticks a quarter of a second apart, with polls of a
    // server that rounds its count down in between: the visible countdown
    // goes down one by one, never stalling or skipping; the live region
    // speaks once, at ten seconds left.
    assert.equal(ticks.length, 1);
    const seen = [String(cd.textContent)];
    for (let i = 1; i <= 120; i++) {
      clock += 250;
      if (i % 3 === 0) {
        answer = { state: 'pending', number: 42, expires_in: Math.max(0, Math.floor(30 - i / 4)) };
        timers.shift()();
        await new Promise((res) => setTimeout(res, 1));
      }
      ticks[0]();
      if (String(cd.textContent) !== seen.at(-1)) seen.push(String(cd.textContent));
    }
    assert.deepEqual(seen.map(Number), [...Array(31).keys()].map((i) => 30 - i));
    assert.deepEqual(said, ['10 seconds left to answer on your phone.']);
    // A server count more than a second off moves the deadline.
    clock = 2_000_000;
    answer = { state: 'pending', number: 42, expires_in: 20 };
    timers.shift()();
    await new Promise((res) => setTimeout(res, 1));
    ticks[0]();
    assert.equal(Number(cd.textContent), 20);
    // The push ends while a code is typed: the code stays, the page says
    // so in its status region, the countdown goes, the heading stays.
    code.value = '12';
    answer = { state: 'expired', number: null, expires_in: 0 };
    timers.shift()();
    await new Promise((res) => setTimeout(res, 20));
    assert.deepEqual(went, []);
    assert.equal(code.value, '12');
    assert.match(m.textContent, /no longer waiting/);
    assert.equal(cd.parentNode.hidden, true, 'no countdown left over');
    assert.equal(say.textContent, '', 'nothing left to say about the time');
    // Not "load this page again", which after the code form posts it again:
    // a link that gets the page.
    const link = m.children.find((c) => c.tag === 'a');
    assert.equal(link.href, '/login/mfa?flow=F1');
  });

  test('enrollment: the QR code has a text alternative and the code is written out', async () => {
    const s = await seed(server, { user: 'fay' });
    const b = new Browser();
    const r = await signIn(b, server.issuer, await authUrl(await rp(s)), s.user, s.password);
    assert.equal(r.status, 302, r.text);
    // A first phone, for a user whose policy now asks for one.
    const on = await server.admin('PATCH', '/policies/sso-fay', { remote_access: true });
    assert.equal(on.status, 200, on.text);
    const page = await b.get(`${server.issuer}/enroll`);
    assert.equal(page.status, 200, page.text);
    const html = checkPage(page, /^Set up your authenticator$/);
    assert.match(html, /<button type="submit">Show an enrollment code<\/button>/);
    const e = await b.post(`${server.issuer}/enroll`, hiddenFields(html));
    assert.equal(e.status, 200, e.text);
    const shown = checkPage(e, /^Set up your authenticator$/);
    const svg = tags(shown, 'svg')[0].a;
    assert.equal(svg.role, 'img');
    assert.match(svg['aria-label'], /QR code/);
    // The same code as text, large enough to copy by hand.
    // In groups of four that wrap between groups, never inside one.
    // With what else the QR code holds: the server and the user name.
    const esc = (t) => t.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    assert.match(shown, new RegExp(`<p class="code">Or type this enrollment code in the app: <code>(<span class="nowrap">[A-Z2-7]{4}</span> ){3}<span class="nowrap">[A-Z2-7]{4}</span></code>, with the server <code>${esc(server.issuer)}</code> and your user name <code>[a-z0-9.@_-]+</code>\\.</p>`));
    assert.match(await (await fetch(`${server.issuer}/static/authflow.css`)).text(), /\.nowrap\{white-space:nowrap\}/);
    assert.match(shown, /within ten minutes/, 'the time limit is said');
    // On the phone itself, a link opens the enrollment in the app.
    const link = shown.match(/<a href="(authflow:\/\/enroll\?[^"]+)">open this enrollment in the authenticator app<\/a>/);
    assert.ok(link, 'a link for the phone itself');
    const code = shown.match(/<code>(.*?)<\/code>/)[1].replace(/<[^>]+>| /g, '');
    assert.equal(new URL(link[1].replace(/&amp;/g, '&')).searchParams.get('code'), code);
  });

  test('error, refusal, sign-out and form_post pages', async () => {
    // The service's own address: told, not warned.
    let r = await new Browser().get(`${server.issuer}/`);
    assert.equal(r.status, 404);
    let html = checkPage(r, /^authflow$/);
    assert.match(html, /<h1>authflow<\/h1><p>This is a sign-in service\./);
    assert.doesNotMatch(html, /role="alert"|class="msg/);
    // A sign-in page that expired.
    r = await new Browser().get(`${server.issuer}/login?flow=nope`);
    assert.equal(r.status, 400);
    html = checkPage(r, /^This sign-in page has expired$/);
    assert.match(html, /<h1>This sign-in page has expired<\/h1><p class="msg" role="alert">/);
    assert.match(html, /Go back to the application and sign in again\./);
    // A form's address opened in the address bar (the token code form's,
    // shown there after a wrong code): a page, not a line of text.
    r = await new Browser().get(`${server.issuer}/login/mfa/code`);
    assert.equal(r.status, 405);
    assert.equal(r.headers.get('allow'), 'POST');
    html = checkPage(r, /^Page not available$/);
    assert.match(html, /Go back to the application and sign in again\./);
    // A refusal after the password, with a way back.
    const no = await seed(server, { user: 'gus', policy: { sso: false } });
    r = await signIn(new Browser(), server.issuer, await authUrl(await rp(no)), no.user, no.password);
    assert.equal(r.status, 403);
    html = checkPage(r, /^Single sign-on is not enabled$/);
    assert.match(html, /<button type="submit" name="cancel" value="1">Back to the application<\/button>/);
    // The sign-out question and its answer.
    const s = await seed(server, { user: 'hal' });
    const config = await rp(s);
    const b = new Browser();
    r = await signIn(b, server.issuer, await authUrl(config), s.user, s.password);
    assert.equal(r.status, 302, r.text);
    r = await b.get(`${server.issuer}/logout`);
    assert.equal(r.status, 200);
    html = checkPage(r, /^Sign out\?$/);
    assert.match(html, /<button type="submit">Sign out<\/button>/);
    r = await b.post(`${server.issuer}/logout`, hiddenFields(html));
    assert.equal(r.status, 200, r.text);
    checkPage(r, /^Signed out$/);
    // form_post: a form that works without script too.
    r = await signIn(new Browser(), server.issuer, await authUrl(config, { response_mode: 'form_post' }), s.user, s.password);
    assert.equal(r.status, 200);
    html = checkPage(r, /^Signing in$/);
    assert.match(html, /<noscript><p>JavaScript is off: press Continue\.<\/p><\/noscript><button type="submit">Continue<\/button>/);
  });

  test('a sign-in stopped without the user, and a paused phone: the page says why, as an alert, with a way on', async () => {
    // The phone removed while its push waits.
    const s = await mfaUser('ines');
    let m = await toMfa(s);
    const dev = (await server.admin('GET', '/users/ines/devices')).json.devices[0];
    assert.equal((await server.admin('DELETE', `/devices/${dev.id}`)).status, 200);
    let r = await m.browser.get(m.url);
    // The title says what stopped it first (WCAG 2.4.2); the heading stays.
    let html = checkPage(r, /^Phone removed: Sign-in not completed$/);
    assert.match(html, /<h1>Sign-in not completed<\/h1>/);
    assert.match(html, /<p class="msg" role="alert">The phone this sign-in request was sent to was removed from your account\./);
    assert.match(html, /<a href="\/login\?flow=[^"]+">Start again<\/a>/);
    // The account disabled meanwhile: no start again, the way back instead.
    const t = await mfaUser('joss');
    m = await toMfa(t);
    assert.equal((await server.admin('PATCH', '/users/joss', { enabled: false })).status, 200);
    r = await m.browser.get(m.url);
    assert.equal(r.status, 403);
    html = checkPage(r, /^Account disabled: Sign-in not completed$/);
    assert.match(html, /an administrator disabled your account\./);
    assert.match(html, /Contact your service desk\./);
    assert.match(html, /<button type="submit" name="cancel" value="1">Back to the application<\/button>/);
    assert.doesNotMatch(html, />Start again</);
    // Pushes paused after a report: the notice says for how long and
    // describes the code field.
    const u = await mfaUser('kira');
    m = await toMfa(u);
    const txn = (await idsim(server, u.phone, ['pending'])).stdout.split(' ')[0];
    assert.equal((await idsim(server, u.phone, ['deny', txn, '--report'])).stdout, 'reported');
    m = await toMfa(u);
    html = checkPage(m.page, /^Enter your token code$/);
    const note = byId(html, 'code-note');
    assert.match(note.inner, /they start again in about (14|15) minutes\. Until then, type the six-digit code from your app\. Your service desk can lift the pause sooner\./);
    assert.equal(field(html, 'code')['aria-describedby'], 'code-note');
  });

  test('the stylesheet: contrast, visible focus, control edges, hidden stays hidden, reflow', async () => {
    const res = await fetch(`${server.issuer}/static/authflow.css`);
    const css = await res.text();
    const r = rules(css);
    const page = colour(decl(r, 'body', 'background'));
    const white = '#ffffff';
    // Text at 4.5:1 or more on its background (WCAG 1.4.3).
    const pairs = [
      ['body', colour(decl(r, 'body', 'color')), page],
      ['header', colour(decl(r, 'header', 'color')), colour(decl(r, 'header', 'background'))],
      ['button', colour(decl(r, 'button', 'color')), colour(decl(r, 'button', 'background'))],
      ['button.secondary', colour(decl(r, 'button.secondary', 'color')), colour(decl(r, 'button.secondary', 'background'))],
      ['.msg', colour(decl(r, '.msg', 'color')), colour(decl(r, '.msg', 'background'))],
      ['.info', colour(decl(r, '.info', 'color')), colour(decl(r, '.info', 'background'))],
      ['.app', colour(decl(r, '.app', 'color')), white],
      ['footer', colour(decl(r, 'footer', 'color')), page],
      ['.help', colour(decl(r, '.help', 'color')), page],
    ];
    for (const [sel, fg, bg] of pairs) {
      assert.ok(fg && bg, `${sel}: colours found`);
      assert.ok(contrast(fg, bg) >= 4.5, `${sel}: ${fg} on ${bg} is ${contrast(fg, bg).toFixed(2)}:1`);
    }
    // Field edges, focus rings and button edges at 3:1 against the white
    // panel (WCAG 1.4.11).
    const edge = decl(r, 'input[type=text]', 'border');
    assert.ok(contrast(hexIn(edge), white) >= 3, `field edge ${edge}`);
    const invalid = decl(r, 'input[aria-invalid=true]', 'border');
    assert.match(invalid ?? '', /^2px/, 'a field in error is marked by more than colour');
    for (const sel of ['input:focus', 'button:focus-visible', 'a:focus-visible']) {
      const o = decl(r, sel, 'outline');
      assert.match(o ?? '', /^3px solid/, `${sel} has a visible outline`);
      assert.ok(contrast(hexIn(o), white) >= 3, `${sel}: ${o}`);
    }
    // A button's edge: half black over its own colour, so 3:1 or more
    // against white even for the lightest accent (white itself).
    const be = decl(r, 'button', 'border').match(/^1px solid rgba\(0,\s*0,\s*0,\s*(0?\.\d+)\)$/);
    assert.ok(be, 'buttons have an edge');
    const grey = Math.round(255 * (1 - Number(be[1]))).toString(16).padStart(2, '0');
    assert.ok(contrast(`#${grey}${grey}${grey}`, white) >= 3, 'the edge of a white button');
    // hidden wins over a display the element's class sets (the pad).
    assert.match(css, /\[hidden\]\{display:none!important\}/);
    assert.match(decl(r, '.pad', 'display'), /grid/);
    // Text only screen readers get.
    assert.match(decl(r, '.sr', 'clip') ?? '', /rect\(0/);
    assert.equal(decl(r, '.sr', 'position'), 'absolute');
    // Nothing moves, or else it stops for prefers-reduced-motion.
    if (/animation|transition/.test(css)) assert.match(css, /prefers-reduced-motion/);
    // Reflow at 320 px (WCAG 1.4.10): no fixed width wider than that.
    for (const m of css.matchAll(/(?:^|[;{])(?:min-)?width:(\d+)px/g)) assert.ok(Number(m[1]) <= 320, m[0]);
    assert.match(decl(r, 'svg', 'max-width'), /100%/);
    assert.match(decl(r, 'main', 'max-width'), /rem$/);
    // A long word (an app's name, an IPv6 address) wraps in text and lists.
    for (const sel of ['p', 'li', 'h1']) assert.match(css, new RegExp(`(?:^|[},])[^{}]*\\b${sel}\\b[^{}]*\\{overflow-wrap:anywhere\\}`), sel);
  });

  test('branding: text on any accent colour reads at 4.5:1', async () => {
    try {
      for (const accent of ['#0b5394', '#ffcc00', '#777777', '#808080', '#ffffff', '#000000', '#e31c79', '#2e7d32']) {
        const p = await server.admin('PATCH', '/branding', { name: 'Acme Health', color: accent });
        assert.equal(p.status, 200, p.text);
        // Any page shows the look: here the page of a sign-in that expired.
        const page = await new Browser().get(`${server.issuer}/login?flow=nope`);
        const html = checkPage(page, /^This sign-in page has expired \u00b7 Acme Health$/);
        assert.match(html, /<span>Acme Health<\/span>/);
        const link = html.match(/href="(\/static\/brand\.css\?v=[0-9a-f]+)"/);
        assert.ok(link, 'the brand stylesheet');
        const css = await (await fetch(`${server.issuer}${link[1]}`)).text();
        const acc = css.match(/--accent:(#[0-9a-f]{6})/)[1];
        const on = css.match(/--on-accent:(#[0-9a-f]{6})/)[1];
        assert.equal(acc, accent);
        // Header and buttons: the accent behind, this colour in front.
        assert.ok(contrast(acc, on) >= 4.5, `${on} on ${acc}: ${contrast(acc, on).toFixed(2)}:1`);
      }
    } finally {
      await server.admin('DELETE', '/branding');
    }
  });
});

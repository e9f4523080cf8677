// The Atlas11 browser app: a shell (header, navigation, language switch, live
// region) and a hash router that draws one screen at a time into <main>.
import { initI18n, t, lang, setLang, LANGS } from './i18n.js';
import { api } from './api.js';
import { h, announce, takeFlash } from './dom.js';
import { syncClock } from './clock.js';
import * as pub from './views/public.js';
import * as client from './views/client.js';
import * as expert from './views/expert.js';
import * as operator from './views/operator.js';
import * as call from './views/call.js';

// Each route: a pattern, the roles allowed (empty: anyone) and a view.
const routes = [
  ['/', [], pub.home],
  ['/help', [], pub.help],
  ['/signin', [], pub.signIn],
  ['/signup', [], pub.signUp],
  ['/forgot', [], pub.forgot],
  ['/reset/:token', [], pub.reset],
  ['/verify/:token', [], pub.verify],
  ['/e/:slug', [], pub.profile],
  ['/book/:expert/:slot', ['client'], client.book],
  ['/events/:id', [], client.event],
  ['/activity', ['client', 'expert'], client.activity],
  ['/claims/:id', ['client', 'expert', 'operator'], client.claim],
  ['/expert/availability', ['expert'], expert.availability],
  ['/expert/events', ['expert'], expert.events],
  ['/expert/earnings', ['expert'], expert.earnings],
  ['/expert/profile', ['expert'], expert.profile],
  ['/operator', ['operator'], operator.claims],
  ['/operator/flags', ['operator'], operator.flags],
  ['/operator/payouts', ['operator'], operator.payouts],
  ['/operator/jobs', ['operator'], operator.jobs],
  ['/operator/notices', ['operator'], operator.notices],
  ['/operator/settings', ['operator'], operator.settings],
  ['/call/:room', ['client', 'expert'], call.view],
];

// app is the state every view receives.
const app = { user: null, route: '', go, refreshUser };

function match(pattern, path) {
  const p = pattern.split('/');
  const s = path.split('/');
  if (p.length !== s.length) return null;
  const params = {};
  for (let i = 0; i < p.length; i++) {
    if (p[i].startsWith(':')) params[p[i].slice(1)] = decodeURIComponent(s[i]);
    else if (p[i] !== s[i]) return null;
  }
  return params;
}

// currentPath reads the route from the hash; a shareable /e/<slug> path also
// works when the server sends index.html for it.
function currentPath() {
  const hash = location.hash.replace(/^#/, '');
  if (hash.startsWith('/')) return hash.split('?')[0];
  if (location.pathname.startsWith('/e/')) return location.pathname;
  return '/';
}

function go(path) {
  if (location.hash === `#${path}`) render();
  else location.hash = path;
}

async function refreshUser() {
  try {
    const me = await api.me();
    app.user = me.user;
    setSupportEmail(me.support_email);
    syncClock(me.now);
  } catch { app.user = null; }
  drawNav();
}

let cleanup = null;
let drawn = false;
let started = false;

async function render() {
  const path = currentPath();
  app.route = path;
  const main = document.getElementById('main');
  if (cleanup) { try { cleanup(); } catch { /* a view's teardown must not block the next */ } cleanup = null; }
  for (const [pattern, roles, view] of routes) {
    const params = match(pattern, path);
    if (!params) continue;
    if (roles.length && !app.user) { go(`/signin?next=${encodeURIComponent(path)}`); return undefined; }
    if (roles.length && !roles.includes(app.user.role)) return draw(main, forbidden, params);
    return draw(main, view, params);
  }
  return draw(main, notFound, {});
}

async function draw(main, view, params) {
  document.body.dataset.ready = '0';
  main.replaceChildren(h('p', { class: 'loading', role: 'status' }, t('common.loading')));
  main.setAttribute('aria-busy', 'true');
  let node;
  try {
    const out = await view(app, params);
    node = out && out.node ? out.node : out;
    cleanup = out && out.cleanup ? out.cleanup : null;
  } catch (err) {
    node = h('div', {}, h('h1', {}, t('error.title')),
      h('p', { role: 'alert' }, err && err.message ? err.message : t('error.generic')));
  }
  const msg = takeFlash();
  main.replaceChildren(...(msg ? [h('p', { class: 'flash', role: 'status', id: 'flash' }, msg)] : []), node);
  main.removeAttribute('aria-busy');
  drawNav();
  const h1 = main.querySelector('h1');
  // The home page is simply "Atlas11"; other screens lead with their heading.
  document.title = h1 && app.route !== '/' ? `${h1.textContent} · Atlas11` : 'Atlas11';
  // Move focus to the new screen so keyboard and screen reader users follow;
  // on the first screen the page starts at the top, skip link first.
  if (drawn) main.focus({ preventScroll: true });
  drawn = true;
  window.scrollTo(0, 0);
  announce(msg ? `${document.title}. ${msg}` : document.title);
  if (started) document.body.dataset.ready = '1';
}

function forbidden() {
  return h('div', {}, h('h1', {}, t('error.forbidden.title')), h('p', {}, t('error.forbidden.body')));
}

function notFound() {
  return h('div', {}, h('h1', {}, t('error.notfound.title')),
    h('p', {}, h('a', { href: '#/' }, t('nav.home'))));
}

function navLinks() {
  const u = app.user;
  const links = [['#/', t('nav.home')]];
  if (!u) links.push(['#/help', t('nav.help')], ['#/signin', t('nav.signin')], ['#/signup', t('nav.signup')]);
  else if (u.role === 'client') links.push(['#/activity', t('nav.activity')], ['#/help', t('nav.help')]);
  else if (u.role === 'expert') {
    links.push(['#/activity', t('nav.activity')], ['#/expert/availability', t('nav.availability')],
      ['#/expert/events', t('nav.events')], ['#/expert/earnings', t('nav.earnings')],
      ['#/expert/profile', t('nav.profile')], ['#/help', t('nav.help')]);
  } else if (u.role === 'operator') {
    links.push(['#/operator', t('nav.op.claims')], ['#/operator/flags', t('nav.op.flags')],
      ['#/operator/payouts', t('nav.op.payouts')], ['#/operator/jobs', t('nav.op.jobs')], ['#/operator/notices', t('nav.op.notices')], ['#/operator/settings', t('nav.op.settings')]);
  }
  return links;
}

function drawNav() {
  const nav = document.getElementById('nav');
  nav.setAttribute('aria-label', t('nav.label'));
  const here = `#${app.route}`;
  const ul = h('ul', {}, navLinks().map(([href, label]) =>
    h('li', {}, h('a', { href, 'aria-current': href === here ? 'page' : false }, label))));
  const items = [ul];
  if (app.user) {
    items.push(h('p', { class: 'whoami' }, t('nav.signedinas', { name: app.user.name })),
      h('button', { type: 'button', class: 'link', onclick: signOut }, t('nav.signout')));
  }
  nav.replaceChildren(...items);
}

async function signOut() {
  try { await api.signOut(); } catch { /* signed out locally anyway */ }
  app.user = null;
  announce(t('nav.signedout'));
  go('/');
}

function setSupportEmail(mail) {
  const a = document.getElementById('support-email');
  if (a && mail) { a.href = `mailto:${mail}`; a.textContent = mail; }
}

function drawShell() {
  document.getElementById('skip').textContent = t('nav.skip');
  const sw = document.getElementById('langswitch');
  const sel = h('select', { id: 'lang', name: 'lang', onchange: (e) => { setLang(e.target.value); location.reload(); } },
    LANGS.map((l) => h('option', { value: l, selected: l === lang(), lang: l }, t(`lang.${l}`))));
  sw.replaceChildren(h('label', { for: 'lang', class: 'sr-only' }, t('lang.label')), sel);
  const foot = document.getElementById('foot');
  foot.replaceChildren(h('p', {}, t('footer.tagline')),
    h('p', {}, t('footer.support'), ' ', h('a', { href: 'mailto:support@atlas11.example', id: 'support-email' }, 'support@atlas11.example')));
}

async function start() {
  await initI18n();
  drawShell();
  await refreshUser();
  window.addEventListener('hashchange', render);
  started = true;
  await render();
  document.body.dataset.ready = '1';
}

start();

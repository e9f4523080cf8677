// Public screens: home, help (the FAQ as the product behaves), sign-up and
// sign-in, and an expert's shareable profile (ACC-1, ACC-2).
import { api } from '../api.js';
import { t, lang, timeZone, fmtDate, fmtTime, fmtMinutes } from '../i18n.js';
import { flash, h, field, input, select, formError, clearErrors, showError, errorText, busy, announce, section } from '../dom.js';
import { settings, hours, minutes, mediaLabel, languageName, money, when, loadError } from './common.js';

export async function home(app) {
  const find = h('form', { class: 'inline', onsubmit: (e) => {
    e.preventDefault();
    const v = find.elements.link.value.trim();
    const slug = v.includes('/e/') ? v.split('/e/').pop().split(/[?#/]/)[0] : v;
    if (!slug) { showError(find, { field: 'link', message: t('home.find.empty') }); return; }
    app.go(`/e/${encodeURIComponent(slug)}`);
  } }, formError(),
  field(t('home.find.label'), input('link', { type: 'text', autocomplete: 'off', placeholder: t('home.find.placeholder') })),
  h('button', { type: 'submit' }, t('home.find.submit')));
  return h('div', { class: 'home' },
    h('section', { class: 'hero', 'aria-labelledby': 'home-title' },
      h('h1', { id: 'home-title' }, t('home.title')),
      h('p', { class: 'lead' }, t('home.lead')),
      app.user ? null : h('p', { class: 'actions' },
        h('a', { class: 'button', href: '#/signup?role=expert' }, t('home.cta.expert')),
        h('a', { class: 'button secondary', href: '#/signin' }, t('home.cta.signin')))),
    h('div', { class: 'grid2' },
      section(t('home.clients.title'), 2, h('ul', {},
        h('li', {}, t('home.clients.1')), h('li', {}, t('home.clients.2')), h('li', {}, t('home.clients.3')))),
      section(t('home.experts.title'), 2, h('ul', {},
        h('li', {}, t('home.experts.1')), h('li', {}, t('home.experts.2')), h('li', {}, t('home.experts.3'))))),
    section(t('home.find.title'), 2, h('p', {}, t('home.find.body')), find));
}

export async function help() {
  const s = await settings();
  const cur = s.currency;
  const mp = s.min_prices;
  const qa = (q, ...a) => h('div', { class: 'qa' }, h('h3', {}, q), ...a.map((x) => h('p', {}, x)));
  const mail = h('a', { href: `mailto:${s.support_email}` }, s.support_email);
  return h('div', { class: 'help' },
    h('h1', {}, t('help.title')),
    h('p', { class: 'lead' }, t('help.lead')),
    section(t('help.events'), 2,
      qa(t('help.q.eventsize'), t('help.a.eventsize', { cap: s.event_cap })),
      qa(t('help.q.createevent'), t('help.a.createevent')),
      qa(t('help.q.eventmin'), t('help.a.eventmin')),
      qa(t('help.q.presence'), t('help.a.presence', { min: minutes(s.expert_presence_min) }))),
    section(t('help.appointments'), 2,
      qa(t('help.q.availability'), t('help.a.availability')),
      qa(t('help.q.cancel'), t('help.a.cancel', { h: hours(s.client_cancel_window) })),
      qa(t('help.q.expertcancel'), t('help.a.expertcancel')),
      qa(t('help.q.oneone'), t('help.a.oneone')),
      qa(t('help.q.started'), t('help.a.started'))),
    section(t('help.claims'), 2,
      qa(t('help.q.claim'), t('help.a.claim', { h: hours(s.claim_window) })),
      qa(t('help.q.claimflow'), t('help.a.claimflow')),
      h('div', { class: 'qa' }, h('h3', {}, t('help.q.noagreement')), h('p', {}, t('help.a.noagreement'), ' ', mail, '.'))),
    section(t('help.prices'), 2,
      qa(t('help.q.free'), t('help.a.free')),
      qa(t('help.q.split'), t('help.a.split', { expert: 100 - s.platform_share_basis_pts / 100, platform: s.platform_share_basis_pts / 100 })),
      qa(t('help.q.minimum'), t('help.a.minimum', {
        video: money(mp.video, cur), audio: money(mp.audio, cur), chat: money(mp.chat, cur), event: money(mp.event, cur) })),
      qa(t('help.q.payout'), t('help.a.payout', { days: s.payout_days.join(t('common.and')), threshold: money(s.payout_threshold_cents, cur) })),
      qa(t('help.q.ads'), t('help.a.ads'))));
}

function nextParam() {
  const q = new URLSearchParams(location.hash.split('?')[1] || '');
  const n = q.get('next');
  return n && n.startsWith('/') ? n : null;
}

function homeFor(user) {
  if (user.role === 'operator') return '/operator';
  if (user.role === 'expert') return '/expert/availability';
  return '/activity';
}

export async function signIn(app) {
  const form = h('form', { novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    clearErrors(form);
    const email = form.elements.email.value.trim();
    const password = form.elements.password.value;
    if (!email) return showError(form, { field: 'email', message: t('auth.email.required') });
    if (!password) return showError(form, { field: 'password', message: t('auth.password.required') });
    await busy(form, async () => {
      try {
        await api.signIn({ email, password });
        await app.refreshUser();
        flash(t('auth.signedin'));
        app.go(nextParam() || homeFor(app.user));
      } catch (err) { showError(form, err); }
    });
  } }, formError(),
  field(t('auth.email'), input('email', { type: 'email', autocomplete: 'email', required: true })),
  field(t('auth.password'), input('password', { type: 'password', autocomplete: 'current-password', required: true })),
  h('button', { type: 'submit' }, t('auth.signin.submit')));
  return h('div', { class: 'narrow' }, h('h1', {}, t('auth.signin.title')), form,
    h('p', {}, h('a', { href: '#/forgot', 'data-action': 'forgot' }, t('auth.forgot.link'))),
    h('p', {}, t('auth.signin.noaccount'), ' ', h('a', { href: '#/signup' }, t('nav.signup'))));
}

// forgot asks for a reset link; the answer is the same whether or not the
// address has an account.
export async function forgot() {
  const out = h('div', { 'aria-live': 'polite', id: 'forgot-result' });
  const form = h('form', { novalidate: true, id: 'forgot-form', onsubmit: async (e) => {
    e.preventDefault();
    clearErrors(form);
    const email = form.elements.email.value.trim();
    if (!email) return showError(form, { field: 'email', message: t('auth.email.required') });
    await busy(form, async () => {
      try { await api.requestPasswordReset({ email }); form.replaceWith(h('p', { class: 'success' }, t('auth.forgot.sent', { email }))); } catch (err) { showError(form, err); }
    });
  } }, formError(),
  field(t('auth.email'), input('email', { type: 'email', autocomplete: 'email', required: true })),
  h('button', { type: 'submit' }, t('auth.forgot.submit')));
  return h('div', { class: 'narrow' }, h('h1', {}, t('auth.forgot.title')), h('p', { class: 'lead' }, t('auth.forgot.lead')), form, out);
}

// verify follows a mailed verification link: it proves the address, or
// moves the account to the new one.
export async function verify(app, params) {
  let msg;
  try {
    const me = await api.verifyEmail({ token: params.token });
    if (app.user) await app.refreshUser();
    msg = h('p', { class: 'success', id: 'verify-result' }, t('auth.verify.done', { email: me.user.email }));
  } catch (err) {
    msg = h('p', { class: 'error', id: 'verify-result', role: 'alert' }, errorText(err));
  }
  return h('div', { class: 'narrow' }, h('h1', {}, t('auth.verify.title')), msg,
    h('p', {}, h('a', { href: app.user ? '#/activity' : '#/signin' }, t(app.user ? 'nav.activity' : 'nav.signin'))));
}

// reset sets a new password from the mailed link, then signs in.
export async function reset(app, params) {
  const form = h('form', { novalidate: true, id: 'reset-form', onsubmit: async (e) => {
    e.preventDefault();
    clearErrors(form);
    const password = form.elements.password.value;
    if (!password) return showError(form, { field: 'password', message: t('auth.password.required') });
    if (password !== form.elements.confirm.value) return showError(form, { field: 'confirm', message: t('auth.reset.mismatch') });
    await busy(form, async () => {
      try {
        await api.confirmPasswordReset({ token: params.token, password });
        await app.refreshUser();
        flash(t('auth.reset.done'));
        app.go(homeFor(app.user));
      } catch (err) {
        showError(form, err.field === 'token' ? { ...err, field: undefined } : err);
      }
    });
  } }, formError(),
  field(t('auth.reset.password'), input('password', { type: 'password', autocomplete: 'new-password', required: true }), t('auth.password.hint')),
  field(t('auth.reset.confirm'), input('confirm', { type: 'password', autocomplete: 'new-password', required: true })),
  h('button', { type: 'submit' }, t('auth.reset.submit')));
  return h('div', { class: 'narrow' }, h('h1', {}, t('auth.reset.title')), form,
    h('p', {}, h('a', { href: '#/forgot' }, t('auth.reset.again'))));
}

export async function signUp(app) {
  const q = new URLSearchParams(location.hash.split('?')[1] || '');
  const role = q.get('role') === 'expert' ? 'expert' : 'client';
  const roleGroup = h('fieldset', { class: 'choices' }, h('legend', {}, t('auth.role')),
    ['client', 'expert'].map((r) => h('label', {},
      h('input', { type: 'radio', name: 'role', value: r, checked: r === role }), ' ', t(`auth.role.${r}`))),
    h('p', { class: 'hint' }, t('auth.role.expertfree')));
  const form = h('form', { novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    clearErrors(form);
    const el = form.elements;
    const body = {
      name: el.name.value.trim(), email: el.email.value.trim(), password: el.password.value,
      role: el.role.value, time_zone: el.time_zone.value.trim(), locale: lang(),
    };
    if (!body.name) return showError(form, { field: 'name', message: t('auth.name.required') });
    if (!body.email) return showError(form, { field: 'email', message: t('auth.email.required') });
    if (body.password.length < 10) return showError(form, { field: 'password', message: t('auth.password.short') });
    await busy(form, async () => {
      try {
        await api.signUp(body);
        await app.refreshUser();
        if (!app.user) { await api.signIn({ email: body.email, password: body.password }); await app.refreshUser(); }
        flash(t('auth.signedup'));
        app.go(nextParam() || (app.user.role === 'expert' ? '/expert/profile' : '/activity'));
      } catch (err) { showError(form, err); }
    });
  } }, formError(),
  field(t('auth.name'), input('name', { type: 'text', autocomplete: 'name', required: true })),
  field(t('auth.email'), input('email', { type: 'email', autocomplete: 'email', required: true })),
  field(t('auth.password'), input('password', { type: 'password', autocomplete: 'new-password', required: true, minlength: 10 }), t('auth.password.hint')),
  roleGroup,
  field(t('auth.timezone'), input('time_zone', { type: 'text', value: timeZone(), autocomplete: 'off' }), t('auth.timezone.hint')),
  h('button', { type: 'submit' }, t('auth.signup.submit')));
  return h('div', { class: 'narrow' }, h('h1', {}, t('auth.signup.title')), form,
    h('p', {}, t('auth.signup.haveaccount'), ' ', h('a', { href: '#/signin' }, t('nav.signin'))));
}

// shareLink is the link an expert gives to clients (ACC-2).
export function shareLink(slug) {
  return `${location.origin}/e/${encodeURIComponent(slug)}`;
}

export async function profile(app, { slug }) {
  let p;
  try { p = await api.publicProfile(slug); } catch (err) {
    return h('div', {}, h('h1', {}, t('profile.notfound')), loadError(err));
  }
  const link = shareLink(p.slug || slug);
  const copy = h('button', { type: 'button', class: 'secondary', onclick: async () => {
    try { await navigator.clipboard.writeText(link); announce(t('profile.link.copied')); } catch { announce(link); }
  } }, t('profile.link.copy'));
  const byDay = new Map();
  for (const s of (p.slots || []).filter((x) => !x.booked)) {
    const d = fmtDate(s.start);
    if (!byDay.has(d)) byDay.set(d, []);
    byDay.get(d).push(s);
  }
  const canBook = !app.user || app.user.role === 'client';
  const bookHref = (s) => (app.user ? `#/book/${encodeURIComponent(p.expert_id)}/${encodeURIComponent(s.id)}`
    : `#/signin?next=${encodeURIComponent(`/book/${p.expert_id}/${s.id}`)}`);
  const slots = byDay.size === 0 ? h('p', { class: 'empty' }, t('profile.noslots'))
    : h('div', { class: 'days' }, [...byDay].map(([day, ss]) => h('section', { class: 'day', 'aria-label': day },
      h('h3', {}, day),
      h('ul', { class: 'slots' }, ss.map((s) => h('li', { class: 'slot', 'data-slot': s.id },
        h('span', { class: 'slot-time' }, fmtTime(s.start), '–', fmtTime(s.end)),
        h('span', {}, fmtMinutes(Math.round((new Date(s.end) - new Date(s.start)) / 60000))),
        h('span', { class: 'price' }, money(s.price_cents)),
        h('span', { class: 'media' }, (s.media || []).map(mediaLabel).join(', ')),
        canBook ? h('a', { class: 'button small', href: bookHref(s),
          'aria-label': t('profile.book.aria', { time: `${day} ${fmtTime(s.start)}` }) }, t('profile.book')) : null))))));
  const events = (p.events || []).filter((e) => e.status === 'scheduled');
  return h('div', { class: 'profile' },
    h('header', { class: 'profile-head' },
      h('h1', {}, p.name),
      p.headline ? h('p', { class: 'lead' }, p.headline) : null,
      h('p', { class: 'meta' }, (p.languages || []).length ? t('profile.languages', { langs: p.languages.map(languageName).join(', ') }) : null,
        ' ', p.time_zone ? t('profile.timezone', { tz: p.time_zone }) : null),
      h('div', { class: 'share' }, h('label', { for: 'share-link' }, t('profile.link')),
        h('input', { id: 'share-link', type: 'text', readonly: true, value: link }), copy)),
    p.bio ? section(t('profile.about'), 2, h('p', { class: 'bio' }, p.bio)) : null,
    section(t('profile.slots'), 2, h('p', { class: 'hint' }, t('profile.slots.tz', { tz: timeZone() })), slots),
    section(t('profile.events'), 2, events.length === 0 ? h('p', { class: 'empty' }, t('profile.noevents'))
      : h('ul', { class: 'cards' }, events.map((e) => h('li', { class: 'card', 'data-event': e.id },
        h('h3', {}, h('a', { href: `#/events/${encodeURIComponent(e.id)}` }, e.title)),
        h('p', {}, when(e.start)),
        h('p', {}, money(e.price_cents), ' · ', t('event.seatsleft', { n: Math.max(0, e.max_participants - e.registered) })))))));
}

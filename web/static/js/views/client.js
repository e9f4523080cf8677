// Client screens: checkout of a slot or an event through the sandbox gateway
// with the cancellation terms spelled out (APT-6, EVT-8, PAY-1), the recent
// activity column with its actions (ACC-4), and a claim's thread (CLM-1..5).
import { api } from '../api.js';
import { t, fmtDateTime, fmtMinutes, parseMoney, timeZone } from '../i18n.js';
import { flash, h, field, input, formError, clearErrors, showError, errorText, busy, announce, idemKey, section, uid } from '../dom.js';
import { now } from '../clock.js';
import { settings, hours, mediaLabel, money, when, dl, statusBadge, loadError, list } from './common.js';

// cancelTerms states APT-6 with the actual deadline in the viewer's zone.
function cancelTerms(start, windowNs) {
  const deadline = new Date(new Date(start).getTime() - hours(windowNs) * 3600e3);
  const past = deadline <= now();
  return h('div', { class: 'terms', id: 'cancel-terms' },
    h('h2', {}, t('book.terms.title')),
    past ? h('p', { class: 'warn' }, t('book.terms.late', { h: hours(windowNs) }))
      : h('p', {}, t('book.terms.free', { deadline: fmtDateTime(deadline) })),
    h('p', {}, t('book.terms.after')),
    h('p', { class: 'hint' }, t('book.terms.tz', { tz: timeZone() })));
}

// payForm is the sandbox gateway step: the total, an agreement to the terms
// and one pay button. The same idempotency key is reused on retry.
function payForm(price, onPay, extra = []) {
  const form = h('form', { class: 'pay', novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    clearErrors(form);
    if (!form.elements.agree.checked) return showError(form, { field: 'agree', message: t('book.agree.required') });
    await busy(form, async () => {
      try { await onPay(form); } catch (err) { showError(form, err); }
    });
  } }, formError(), ...extra,
  h('fieldset', {}, h('legend', {}, t('pay.title')),
    h('p', { class: 'hint' }, t('pay.sandbox')),
    h('p', { class: 'total' }, t('pay.total'), ' ', h('strong', { 'data-total': '' }, price))),
  h('div', { class: 'field check' }, h('input', { type: 'checkbox', name: 'agree', id: 'agree', 'aria-describedby': 'cancel-terms agree-err' }),
    h('label', { for: 'agree' }, t('book.agree')), h('p', { class: 'error', id: 'agree-err', hidden: true })),
  h('button', { type: 'submit', id: 'pay' }, t('pay.submit', { price })));
  return form;
}

export async function book(app, { expert, slot: slotID }) {
  const s = await settings();
  let p;
  try { p = await api.publicProfile(expert); } catch (err) { return h('div', {}, h('h1', {}, t('book.title')), loadError(err)); }
  const slot = (p.slots || []).find((x) => x.id === slotID);
  if (!slot) {
    return h('div', {}, h('h1', {}, t('book.title')), h('p', { role: 'alert' }, t('book.gone')),
      h('p', {}, h('a', { href: `#/e/${encodeURIComponent(p.slug || expert)}` }, t('book.back'))));
  }
  const mins = Math.round((new Date(slot.end) - new Date(slot.start)) / 60000);
  const media = h('fieldset', { class: 'choices', 'data-fields': 'media' }, h('legend', {}, t('book.media')),
    slot.media.map((m, i) => h('label', {}, h('input', { type: 'radio', name: 'media', value: m, checked: i === 0 }), ' ', mediaLabel(m))),
    h('p', { class: 'error', id: 'media-err', hidden: true, 'data-error-for': 'media' }));
  const form = payForm(money(slot.price_cents), async (f) => {
    const b = await api.book({ slot_id: slot.id, media: f.elements.media.value }, idemKey(f));
    flash(t('book.done'));
    app.go(`/activity?booked=${encodeURIComponent(b.id)}`);
  }, [media]);
  return h('div', { class: 'checkout' },
    h('h1', {}, t('book.title')),
    dl([[t('book.expert'), p.name], [t('book.when'), when(slot.start)], [t('book.length'), fmtMinutes(mins)],
      [t('book.price'), money(slot.price_cents)]]),
    cancelTerms(slot.start, s.client_cancel_window),
    form);
}

export async function event(app, { id }) {
  const s = await settings();
  let e;
  try { e = await api.event(id); } catch (err) { return h('div', {}, h('h1', {}, t('event.title')), loadError(err)); }
  const left = Math.max(0, e.max_participants - e.registered);
  const info = [h('h1', {}, e.title), e.description ? h('p', { class: 'lead' }, e.description) : null,
    dl([[t('event.when'), when(e.start)], [t('book.length'), fmtMinutes(Math.round((new Date(e.end) - new Date(e.start)) / 60000))],
      [t('book.price'), money(e.price_cents)], [t('event.participants'), t('event.minmax', { min: e.min_participants, max: e.max_participants })],
      [t('event.seats'), t('event.seatsleft', { n: left })], [t('event.status'), statusBadge('event', e.status)]]),
    h('p', { class: 'hint' }, t('event.rules', { min: e.min_participants }))];
  if (!app.user) {
    return h('div', {}, ...info, h('p', {}, h('a', { class: 'button', href: `#/signin?next=${encodeURIComponent(`/events/${id}`)}` }, t('event.signin'))));
  }
  if (app.user.role !== 'client' || e.status !== 'scheduled' || left === 0 || new Date(e.start) <= now()) {
    return h('div', {}, ...info, left === 0 ? h('p', { role: 'status' }, t('event.full')) : null);
  }
  const form = payForm(money(e.price_cents), async (f) => {
    await api.register(e.id, idemKey(f));
    flash(t('event.registered'));
    app.go('/activity');
  });
  return h('div', { class: 'checkout' }, ...info, cancelTerms(e.start, s.client_cancel_window), form);
}

// ---- recent activity (ACC-4)

function consequenceText(a) {
  if (a.consequence === 'charge') return t('cancel.charge', { amount: money(a.amount_cents) });
  return t('cancel.refund', { amount: money(a.amount_cents) });
}

// cancelDialog shows the consequence before confirming (APT-6).
function cancelDialog(app, item, action, opener) {
  const titleId = uid('dlg');
  const form = h('form', { method: 'dialog', onsubmit: async (e) => {
    e.preventDefault();
    clearErrors(form);
    await busy(form, async () => {
      try {
        const b = await api.cancelBooking(item.id, idemKey(form));
        dlg.close();
        flash(b && b.charged ? t('cancel.done.charged') : t('cancel.done.refunded'));
        app.go('/activity');
      } catch (err) { showError(form, err); }
    });
  } }, formError(),
  h('p', { class: action.consequence === 'charge' ? 'warn' : '', id: 'cancel-consequence' }, consequenceText(action)),
  h('div', { class: 'actions' },
    h('button', { type: 'submit', class: 'danger', id: 'cancel-confirm' }, t('cancel.confirm')),
    h('button', { type: 'button', class: 'secondary', onclick: () => dlg.close() }, t('cancel.keep'))));
  const dlg = h('dialog', { 'aria-labelledby': titleId, class: 'dialog' },
    h('h2', { id: titleId }, t('cancel.title', { title: item.title })), form);
  dlg.addEventListener('close', () => { dlg.remove(); opener.focus(); });
  document.body.append(dlg);
  dlg.showModal();
}

function claimForm(app, item) {
  const form = h('form', { class: 'claim-form', novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    clearErrors(form);
    const reason = form.elements.reason.value.trim();
    if (!reason) return showError(form, { field: 'reason', message: t('claim.reason.required') });
    await busy(form, async () => {
      try {
        const c = await api.openClaim(item.id, reason);
        flash(t('claim.opened'));
        app.go(`/claims/${encodeURIComponent(c.id)}`);
      } catch (err) { showError(form, err); }
    });
  } }, formError(),
  field(t('claim.reason'), h('textarea', { name: 'reason', rows: 3, maxlength: 2000, required: true }), t('claim.reason.hint')),
  h('button', { type: 'submit' }, t('claim.open.submit')));
  return form;
}

function itemActions(app, item) {
  const out = [];
  for (const a of item.actions || []) {
    if (a.name === 'join' && item.room) {
      out.push(h('a', { class: 'button small', href: `#/call/${encodeURIComponent(item.room)}`, 'data-action': 'join' }, t('activity.join')));
    } else if (a.name === 'cancel') {
      const b = h('button', { type: 'button', class: 'small secondary', 'data-action': 'cancel',
        onclick: () => cancelDialog(app, item, a, b) }, t('activity.cancel'));
      out.push(b, h('span', { class: 'hint' }, consequenceText(a)));
    } else if (a.name === 'open_claim') {
      const holder = h('div', { class: 'claim-holder' });
      const b = h('button', { type: 'button', class: 'small secondary', 'aria-expanded': 'false', 'data-action': 'open_claim',
        onclick: () => {
          const open = b.getAttribute('aria-expanded') === 'true';
          b.setAttribute('aria-expanded', String(!open));
          holder.replaceChildren(open ? '' : claimForm(app, item));
          if (!open) holder.querySelector('textarea').focus();
        } }, t('activity.openclaim'));
      out.push(b, holder);
    } else if (['respond', 'accept', 'reject', 'decide', 'view'].includes(a.name) && item.type === 'claim') {
      out.push(h('a', { class: 'button small', href: `#/claims/${encodeURIComponent(item.id)}`, 'data-action': a.name }, t(`activity.${a.name}`)));
    }
  }
  if ((item.type === 'appointment' || item.type === 'registration') && item.status === 'confirmed') {
    out.push(h('a', { class: 'button small secondary', href: `/api/v1/bookings/${encodeURIComponent(item.id)}/calendar.ics`,
      download: '', 'data-action': 'calendar' }, t('activity.calendar')));
  }
  if (item.type === 'claim' && !out.length) out.push(h('a', { href: `#/claims/${encodeURIComponent(item.id)}` }, t('activity.view')));
  return out;
}

export async function activity(app) {
  let items;
  try { items = await api.activity(); } catch (err) { return h('div', {}, h('h1', {}, t('activity.title')), loadError(err)); }
  // Ended bookings say how they ended and what the client finally paid.
  const ended = app.user.role !== 'client' ? [] : items.filter((i) => (i.type === 'appointment' || i.type === 'registration') && (i.status === 'completed' || i.status === 'cancelled'));
  const details = new Map();
  await Promise.all(ended.map(async (i) => { try { details.set(i.id, await api.booking(i.id)); } catch { /* the item still shows */ } }));
  const t0 = now();
  // Upcoming: still active and not over. The status decides first, since the
  // platform's clock may run ahead of this browser's (simulation demos).
  const active = ['confirmed', 'pending_payment', 'scheduled'];
  const upcoming = items.filter((i) => i.start && active.includes(i.status) && new Date(i.end || i.start) > t0 && i.type !== 'claim' && i.type !== 'payout');
  const rest = items.filter((i) => !upcoming.includes(i));
  const render = (i) => [
    h('h3', {}, t(`activity.type.${i.type}`), (i.type === 'registration' || i.type === 'event') && i.title ? ` · ${i.title}` : ''),
    dl([i.start ? [t('activity.when'), when(i.start)] : null,
      i.counterpart ? [t('activity.with'), i.counterpart] : null,
      i.amount_cents ? [t(i.type === 'claim' ? 'activity.refunded' : 'activity.amount'), money(i.amount_cents)] : null,
      [t('activity.status'), statusBadge(i.type, i.status)],
      details.has(i.id) ? [t('activity.outcome'), outcomeText(details.get(i.id))] : null]),
    h('div', { class: 'actions' }, itemActions(app, i))];
  const extra = [];
  if (app.user.role === 'client') {
    extra.push(h('p', { class: 'hint' }, t('activity.client.hint')));
  }
  const node = h('div', { class: 'activity' }, h('h1', {}, t('activity.title')), ...extra,
    section(t('activity.upcoming'), 2, list(upcoming, (i) => render(i), t('activity.none'))),
    section(t('activity.recent'), 2, list(rest, (i) => render(i), t('activity.none'))),
    calendarFeed(),
    mailPrefs(app));
  for (const [li, i] of zipItems(node, [...upcoming, ...rest])) li.dataset.item = i.id;
  return node;
}

// mailPrefs lets a user choose the language of their e-mails and decline
// the reminders; messages about money, claims and the account always go.
function mailPrefs(app) {
  const u = app.user;
  const form = h('form', { novalidate: true, id: 'prefs-form', onsubmit: async (e) => {
    e.preventDefault();
    clearErrors(form);
    await busy(form, async () => {
      try {
        await api.updatePreferences({ reminders: form.elements.reminders.checked, locale: form.elements.mail_locale.value });
        await app.refreshUser();
        announce(t('prefs.saved'));
      } catch (err) { showError(form, err.field === 'locale' ? { ...err, field: 'mail_locale' } : err); }
    });
  } }, formError(),
  h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'reminders', checked: u.reminders !== false }), ' ', t('prefs.reminders')),
  field(t('prefs.locale'), h('select', { name: 'mail_locale', id: 'mail_locale' },
    ['fr', 'en'].map((l) => h('option', { value: l, selected: u.locale === l, lang: l }, t(`lang.${l}`))))),
  h('p', { class: 'hint' }, t('prefs.essential')),
  h('button', { type: 'submit' }, t('prefs.submit')));
  const change = h('form', { novalidate: true, id: 'email-form', onsubmit: async (e) => {
    e.preventDefault();
    clearErrors(change);
    const email = change.elements.new_email.value.trim();
    if (!email) return showError(change, { field: 'new_email', message: t('auth.email.required') });
    await busy(change, async () => {
      try {
        await api.changeEmail({ email, password: change.elements.current_password.value });
        change.reset();
        announce(t('prefs.email.sent', { email }));
      } catch (err) { showError(change, err.field === 'email' ? { ...err, field: 'new_email' } : err.field === 'password' ? { ...err, field: 'current_password' } : err); }
    });
  } }, formError(),
  h('p', {}, t('prefs.email.current', { email: u.email }), ' ', u.email_verified ? t('prefs.email.verified') : t('prefs.email.unverified')),
  field(t('prefs.email.new'), input('new_email', { type: 'email', autocomplete: 'email' })),
  field(t('prefs.email.password'), input('current_password', { type: 'password', autocomplete: 'current-password' })),
  h('button', { type: 'submit', class: 'secondary' }, t('prefs.email.submit')));
  return section(t('prefs.title'), 2, form, h('h3', {}, t('prefs.email.title')), change);
}

// calendarFeed hands out the private subscription URL of the user's
// appointments and events, and revokes it.
function calendarFeed() {
  const out = h('div', { id: 'feed', 'aria-live': 'polite' });
  const revoke = h('button', { type: 'button', class: 'small secondary', 'data-action': 'feed-revoke', onclick: async () => {
    try { await api.revokeCalendarFeed(); out.replaceChildren(h('p', {}, t('feed.revoked'))); } catch (err) { announce(errorText(err)); }
  } }, t('feed.revoke'));
  const get = h('button', { type: 'button', class: 'small', 'data-action': 'feed-new', onclick: async () => {
    try {
      const f = await api.newCalendarFeed();
      const url = location.origin + f.path;
      out.replaceChildren(field(t('feed.url'), input('feed_url', { type: 'text', readonly: true, value: url }), t('feed.hint')));
    } catch (err) { announce(errorText(err)); }
  } }, t('feed.new'));
  return section(t('feed.title'), 2, h('p', {}, t('feed.lead')), h('div', { class: 'actions' }, get, revoke), out);
}

// outcomeText says how a booking ended and what it finally cost.
function outcomeText(b) {
  const k = `outcome.${b.outcome}`;
  const why = t(k) === k ? '' : `${t(k)} `;
  const paid = Math.max(0, (b.paid_cents || 0) - (b.refunded_cents || 0));
  return why + (paid === 0 ? t('outcome.nothing') : t('outcome.paid', { amount: money(paid), refunded: money(b.refunded_cents || 0) }));
}

function zipItems(node, items) {
  const lis = [...node.querySelectorAll('li.card')];
  return lis.map((li, k) => [li, items[k]]);
}

// ---- claim thread (CLM-1..5)

// presenceView shows one person's presence in the call (CALL-3).
function presenceView(pr, who, id) {
  if (!pr) return h('p', { id }, t('claim.presence.none', { who }));
  const mins = Math.round((pr.total || 0) / 60e9);
  return h('div', { class: 'presence', id },
    h('h3', {}, who),
    h('p', {}, t('claim.presence.total', { min: mins })),
    (pr.intervals || []).length === 0 ? h('p', {}, t('claim.presence.never'))
      : h('ul', {}, pr.intervals.map((iv) => h('li', {}, t('claim.presence.interval', { from: fmtDateTime(iv.from), to: fmtDateTime(iv.to) })))));
}

// clientPresence fetches the client's own presence in the booking's room,
// the other half of the evidence; null when it cannot be read.
async function clientPresence(c) {
  try {
    const b = await api.booking(c.booking_id);
    return { pr: await api.presence(b.room, c.client_id), b };
  } catch { return { pr: null, b: null }; }
}

export async function claim(app, { id }) {
  let c;
  try { c = await api.claim(id); } catch (err) { return h('div', {}, h('h1', {}, t('claim.title')), loadError(err)); }
  const role = app.user.role;
  const thread = h('ol', { class: 'thread' },
    h('li', {}, h('p', { class: 'who' }, t('claim.thread.client'), ' · ', when(c.opened_at)), h('p', {}, c.reason)),
    c.response ? h('li', {}, h('p', { class: 'who' }, t('claim.thread.expert'), ' · ', when(c.responded_at)),
      h('p', {}, t(`claim.response.${c.response}`, { amount: money(c.expert_refund_cents) })),
      c.response_message ? h('p', {}, c.response_message) : null) : null,
    c.escalated_at ? h('li', {}, h('p', { class: 'who' }, t('claim.thread.escalated'), ' · ', when(c.escalated_at))) : null,
    c.status === 'resolved' ? h('li', {}, h('p', { class: 'who' }, t('claim.thread.resolved'))) : null,
    c.status === 'decided' ? h('li', {}, h('p', { class: 'who' }, t('claim.thread.decided')),
      h('p', {}, t('claim.decision.refund', { amount: money(c.decision_refund_cents) })),
      c.decision_message ? h('p', {}, c.decision_message) : null) : null);
  const parts = [h('h1', {}, t('claim.title')),
    dl([[t('claim.status'), statusBadge('claim', c.status)], [t('claim.booking'), c.booking_id]]),
    section(t('claim.thread'), 2, thread)];
  if (role === 'expert' || role === 'operator') {
    const { pr, b } = await clientPresence(c);
    parts.push(section(t('claim.presence'), 2,
      b ? h('p', {}, t('claim.booking.when', { when: fmtDateTime(b.start), price: money(b.price_cents) })) : null,
      presenceView(c.presence, t('claim.presence.expert'), 'presence'),
      presenceView(pr, t('claim.presence.client'), 'presence-client')));
  }
  if (role === 'expert' && c.status === 'open') parts.push(respondForm(app, c));
  if (role === 'client' && c.status === 'responded') parts.push(acceptReject(app, c));
  if (role === 'operator' && c.status === 'escalated') parts.push(decideForm(app, c));
  if (role === 'client' && c.status === 'escalated') parts.push(h('p', { role: 'status' }, t('claim.escalated.client')));
  return h('div', { class: 'claim' }, ...parts);
}

function respondForm(app, c) {
  const amount = input('amount_cents', { type: 'text', inputmode: 'decimal', autocomplete: 'off' });
  const form = h('form', { novalidate: true, id: 'respond', onsubmit: async (e) => {
    e.preventDefault();
    clearErrors(form);
    const kind = form.elements.kind.value;
    const body = { kind, message: form.elements.message.value.trim() };
    if (kind === 'partial_refund') {
      body.amount_cents = parseMoney(amount.value);
      if (!Number.isFinite(body.amount_cents) || body.amount_cents <= 0) return showError(form, { field: 'amount_cents', message: t('claim.amount.invalid') });
    }
    if (kind === 'decline' && !body.message) return showError(form, { field: 'message', message: t('claim.message.required') });
    await busy(form, async () => {
      try { await api.respondClaim(c.id, body, idemKey(form)); flash(t('claim.responded')); app.go(`/claims/${encodeURIComponent(c.id)}`); } catch (err) { showError(form, err); }
    });
  } }, formError(),
  h('fieldset', { class: 'choices', 'data-fields': 'kind' }, h('legend', {}, t('claim.respond.kind')),
    ['full_refund', 'partial_refund', 'decline'].map((k, i) => h('label', {},
      h('input', { type: 'radio', name: 'kind', value: k, checked: i === 0 }), ' ', t(`claim.kind.${k}`)))),
  field(t('claim.amount'), amount, t('claim.amount.hint')),
  field(t('claim.message'), h('textarea', { name: 'message', rows: 3, maxlength: 2000 })),
  h('button', { type: 'submit' }, t('claim.respond.submit')));
  return section(t('claim.respond.title'), 2, form);
}

function acceptReject(app, c) {
  const form = h('form', { onsubmit: (e) => e.preventDefault() }, formError(),
    h('p', {}, t('claim.decide.hint')),
    h('div', { class: 'actions' },
      h('button', { type: 'button', id: 'accept', onclick: () => act(api.acceptClaim, 'claim.accepted') }, t('claim.accept')),
      h('button', { type: 'button', id: 'reject', class: 'secondary', onclick: () => act(api.rejectClaim, 'claim.rejected') }, t('claim.reject'))));
  async function act(fn, msg) {
    clearErrors(form);
    try { await fn(c.id); flash(t(msg)); app.go(`/claims/${encodeURIComponent(c.id)}`); } catch (err) { showError(form, err); }
  }
  return section(t('claim.answer.title'), 2, form);
}

function decideForm(app, c) {
  const form = h('form', { novalidate: true, id: 'decide', onsubmit: async (e) => {
    e.preventDefault();
    clearErrors(form);
    const refund = parseMoney(form.elements.refund_cents.value || '0');
    if (!Number.isFinite(refund) || refund < 0) return showError(form, { field: 'refund_cents', message: t('claim.amount.invalid') });
    await busy(form, async () => {
      try {
        await api.decideClaim(c.id, { refund_cents: refund, message: form.elements.message.value.trim() }, idemKey(form));
        flash(t('claim.decided'));
        app.go(`/claims/${encodeURIComponent(c.id)}`);
      } catch (err) { showError(form, err); }
    });
  } }, formError(),
  field(t('claim.decide.refund'), input('refund_cents', { type: 'text', inputmode: 'decimal', value: '0', 'data-fields': 'amount_cents' }), t('claim.amount.hint')),
  field(t('claim.message'), h('textarea', { name: 'message', rows: 3, maxlength: 2000 })),
  h('button', { type: 'submit' }, t('claim.decide.submit')));
  return section(t('claim.decide.title'), 2, form);
}

// Expert screens: « Disponibilité » (weekly rules and one-off slots on a
// week calendar, APT-1, TIME-1), « Événements » (EVT-1..3), earnings with
// billing details (PAY-2, PAY-5, PAY-6) and the profile editor (ACC-2).
import { api } from '../api.js';
import { t, fmtDate, fmtTime, fmtDateTime, fmtMinutes, weekdayName, parseMoney, centsToInput, timeZone } from '../i18n.js';
import { flash, h, field, input, select, formError, clearErrors, showError, busy, announce, idemKey, section } from '../dom.js';
import { settings, mediaLabel, money, when, dl, statusBadge, loadError, list, languageName } from './common.js';
import { shareLink } from './public.js';
import { now } from '../clock.js';

const MEDIA = ['video', 'audio', 'chat'];

function mediaBoxes(prefix) {
  return h('fieldset', { class: 'choices', 'data-fields': 'media' }, h('legend', {}, t('avail.media')),
    MEDIA.map((m) => h('label', {}, h('input', { type: 'checkbox', name: 'media', value: m, checked: m === 'video', id: `${prefix}-${m}` }), ' ', mediaLabel(m))),
    h('p', { class: 'error', id: `${prefix}-media-err`, hidden: true, 'data-error-for': 'media' }));
}

// SPOKEN are the languages offered in the profile editor, as BCP 47 tags;
// a tag already on the profile but not listed here stays offered.
const SPOKEN = ['fr', 'en', 'es', 'de', 'it', 'pt', 'nl', 'ar', 'zh', 'ja', 'ru', 'pl', 'ro', 'tr', 'uk', 'el', 'sv', 'he', 'hi', 'ko'];

function languageBoxes(chosen) {
  const tags = [...SPOKEN, ...chosen.filter((l) => !SPOKEN.includes(l))];
  return h('fieldset', { class: 'choices', 'data-fields': 'languages' }, h('legend', {}, t('prof.languages')),
    tags.map((l) => h('label', {}, h('input', { type: 'checkbox', name: 'languages', value: l, checked: chosen.includes(l), id: `lang-${l}` }), ' ', languageName(l))),
    h('p', { class: 'error', id: 'languages-err', hidden: true, 'data-error-for': 'languages' }));
}

function checkedMedia(form) {
  return [...form.querySelectorAll('input[name=media]:checked')].map((x) => x.value);
}

// checkPrice refuses a price under the minimum of any chosen type inline,
// before the server does (PAY-3, APT-4).
function checkPrice(form, cents, media, mins) {
  if (!Number.isFinite(cents)) return showError(form, { field: 'price_cents', message: t('avail.price.invalid') }) || false;
  const need = Math.max(...media.map((m) => mins[m] || 0));
  if (cents < need) {
    showError(form, { field: 'price_cents', message: t('avail.price.below', { min: money(need) }) });
    return false;
  }
  return true;
}

function mediaError(form) {
  const slot = form.querySelector('[data-error-for=media]');
  slot.textContent = t('avail.media.required');
  slot.hidden = false;
  announce(slot.textContent);
  form.querySelector('input[name=media]').focus();
}

export async function availability(app) {
  const s = await settings();
  const mins = s.min_prices;
  let rules = [];
  let slots = [];
  const from = now();
  const to = new Date(from.getTime() + 14 * 86400e3);
  let loadErr = null;
  try {
    [rules, slots] = await Promise.all([api.rules(), api.slots(app.user.id, from.toISOString(), to.toISOString())]);
  } catch (err) { loadErr = err; }
  const minHint = t('avail.min.hint', { video: money(mins.video), audio: money(mins.audio), chat: money(mins.chat) });

  const ruleForm = h('form', { novalidate: true, id: 'rule-form', onsubmit: async (e) => {
    e.preventDefault();
    clearErrors(ruleForm);
    const el = ruleForm.elements;
    const media = checkedMedia(ruleForm);
    if (!media.length) return mediaError(ruleForm);
    const price = parseMoney(el.price_cents.value);
    if (!checkPrice(ruleForm, price, media, mins)) return;
    if (el.end_time.value <= el.start_time.value) return showError(ruleForm, { field: 'end_time', message: t('avail.end.after') });
    await busy(ruleForm, async () => {
      try {
        await api.addRule({ weekday: Number(el.weekday.value), start_time: el.start_time.value, end_time: el.end_time.value,
          slot_minutes: Number(el.slot_minutes.value), price_cents: price, media, time_zone: el.time_zone.value });
        flash(t('avail.rule.added'));
        app.go('/expert/availability');
      } catch (err) { showError(ruleForm, err); }
    });
  } }, formError(),
  h('div', { class: 'row' },
    field(t('avail.weekday'), select('weekday', [1, 2, 3, 4, 5, 6, 0].map((d) => [d, weekdayName(d)]), 1)),
    field(t('avail.start'), input('start_time', { type: 'time', value: '09:00', required: true })),
    field(t('avail.end'), input('end_time', { type: 'time', value: '12:00', required: true }))),
  h('div', { class: 'row' },
    field(t('avail.length'), select('slot_minutes', [15, 30, 45, 60, 90, 120].map((m) => [m, fmtMinutes(m)]), 60)),
    field(t('avail.price'), input('price_cents', { type: 'text', inputmode: 'decimal', value: centsToInput(Math.max(mins.video, 5000)), required: true }), minHint),
    field(t('avail.tz'), input('time_zone', { type: 'text', value: app.user.time_zone || timeZone() }), t('avail.tz.hint'))),
  mediaBoxes('rule'),
  h('button', { type: 'submit' }, t('avail.rule.submit')));

  const tomorrow = new Date(now().getTime() + 86400e3);
  const pad = (n) => String(n).padStart(2, '0');
  const slotForm = h('form', { novalidate: true, id: 'slot-form', onsubmit: async (e) => {
    e.preventDefault();
    clearErrors(slotForm);
    const el = slotForm.elements;
    const media = checkedMedia(slotForm);
    if (!media.length) return mediaError(slotForm);
    const price = parseMoney(el.price_cents.value);
    if (!checkPrice(slotForm, price, media, mins)) return;
    // The date and time are typed in the viewer's zone; the browser turns
    // them into the UTC instant the server stores (TIME-1).
    const start = new Date(`${el.date.value}T${el.time.value}`);
    if (Number.isNaN(start.getTime())) return showError(slotForm, { field: 'date', message: t('avail.date.invalid') });
    await busy(slotForm, async () => {
      try {
        await api.addSlot({ start: start.toISOString(), minutes: Number(el.minutes.value), price_cents: price, media });
        flash(t('avail.slot.added'));
        app.go('/expert/availability');
      } catch (err) {
        showError(slotForm, err.field === 'start' ? { ...err, field: 'date' } : err);
      }
    });
  } }, formError(),
  h('div', { class: 'row' },
    field(t('avail.date'), input('date', { type: 'date', required: true, value: `${tomorrow.getFullYear()}-${pad(tomorrow.getMonth() + 1)}-${pad(tomorrow.getDate())}` })),
    field(t('avail.time'), input('time', { type: 'time', value: '14:00', required: true })),
    field(t('avail.slot.length'), select('minutes', [15, 30, 45, 60, 90, 120].map((m) => [m, fmtMinutes(m)]), 60))),
  field(t('avail.price'), input('price_cents', { type: 'text', inputmode: 'decimal', value: centsToInput(Math.max(mins.video, 5000)), required: true }), minHint),
  mediaBoxes('slot'),
  h('button', { type: 'submit' }, t('avail.slot.submit')));

  const ruleList = list(rules, (r) => [
    h('p', {}, h('strong', {}, weekdayName(r.weekday)), ' ', `${r.start_time}–${r.end_time}`, ' (', r.time_zone, ')'),
    h('p', {}, fmtMinutes(r.slot_minutes), ' · ', money(r.price_cents), ' · ', (r.media || []).map(mediaLabel).join(', ')),
    h('button', { type: 'button', class: 'small secondary', onclick: async (e) => {
      try { await api.deleteRule(r.id); flash(t('avail.rule.deleted')); app.go('/expert/availability'); } catch (err) { announce(err.message); e.target.after(h('span', { class: 'error', role: 'alert' }, err.message)); }
    } }, t('avail.rule.delete', { day: weekdayName(r.weekday) }))], t('avail.rules.none'));

  return h('div', { class: 'availability' },
    h('h1', {}, t('avail.title')),
    h('p', { class: 'lead' }, t('avail.lead')),
    loadErr ? loadError(loadErr) : null,
    section(t('avail.calendar'), 2, h('p', { class: 'hint' }, t('avail.calendar.tz', { tz: timeZone() })), calendar(slots, from)),
    section(t('avail.rules'), 2, ruleList, h('h3', {}, t('avail.rule.new')), ruleForm),
    section(t('avail.slot.new'), 2, slotForm));
}

// calendar lays two weeks of slots out by day, in the viewer's zone.
function calendar(slots, from) {
  const days = [];
  for (let i = 0; i < 14; i++) {
    const d = new Date(from.getTime() + i * 86400e3);
    days.push({ label: fmtDate(d), key: d.toDateString(), slots: [] });
  }
  for (const s of slots || []) {
    const day = days.find((d) => d.key === new Date(s.start).toDateString());
    if (day) day.slots.push(s);
  }
  return h('div', { class: 'calendar', role: 'list' }, days.map((d) => h('div', { class: 'cal-day', role: 'listitem' },
    h('h3', {}, d.label),
    d.slots.length === 0 ? h('p', { class: 'empty' }, t('avail.day.empty'))
      : h('ul', {}, d.slots.map((s) => h('li', { class: s.booked ? 'booked' : 'free', 'data-slot': s.id },
        `${fmtTime(s.start)}–${fmtTime(s.end)}`, ' · ', money(s.price_cents), ' · ', (s.media || []).map(mediaLabel).join(', '),
        s.booked ? [' · ', t('avail.booked')] : null))))));
}

export async function events(app) {
  const s = await settings();
  let evs = [];
  let prof = null;
  let loadErr = null;
  try {
    const from = new Date(now().getTime() - 14 * 86400e3).toISOString();
    const to = new Date(now().getTime() + 45 * 86400e3).toISOString();
    [evs, prof] = await Promise.all([api.expertEvents(app.user.id, from, to), api.myProfile()]);
  } catch (err) { loadErr = err; }
  const cap = (prof && prof.event_cap) || s.event_cap;
  const tomorrow = new Date(now().getTime() + 7 * 86400e3);
  const pad = (n) => String(n).padStart(2, '0');
  const form = h('form', { novalidate: true, id: 'event-form', onsubmit: async (e) => {
    e.preventDefault();
    clearErrors(form);
    const el = form.elements;
    const price = parseMoney(el.price_cents.value);
    if (!Number.isFinite(price)) return showError(form, { field: 'price_cents', message: t('avail.price.invalid') });
    if (price < s.min_prices.event) return showError(form, { field: 'price_cents', message: t('avail.price.below', { min: money(s.min_prices.event) }) });
    const min = Number(el.min_participants.value);
    const max = Number(el.max_participants.value);
    if (!(min >= 1)) return showError(form, { field: 'min_participants', message: t('event.min.invalid') });
    if (max < min) return showError(form, { field: 'max_participants', message: t('event.max.belowmin') });
    if (max > cap) return showError(form, { field: 'max_participants', message: t('event.max.overcap', { cap }) });
    const start = new Date(`${el.date.value}T${el.time.value}`);
    if (Number.isNaN(start.getTime())) return showError(form, { field: 'date', message: t('avail.date.invalid') });
    await busy(form, async () => {
      try {
        await api.createEvent({ title: el.title.value.trim(), description: el.description.value.trim(), start: start.toISOString(),
          minutes: Number(el.minutes.value), price_cents: price, min_participants: min, max_participants: max });
        flash(t('event.created'));
        app.go('/expert/events');
      } catch (err) { showError(form, err.field === 'start' ? { ...err, field: 'date' } : err); }
    });
  } }, formError(),
  field(t('event.f.title'), input('title', { type: 'text', required: true, maxlength: 200 })),
  field(t('event.f.description'), h('textarea', { name: 'description', rows: 3, maxlength: 5000 })),
  h('div', { class: 'row' },
    field(t('avail.date'), input('date', { type: 'date', required: true, value: `${tomorrow.getFullYear()}-${pad(tomorrow.getMonth() + 1)}-${pad(tomorrow.getDate())}` })),
    field(t('avail.time'), input('time', { type: 'time', value: '18:00', required: true })),
    field(t('avail.length'), select('minutes', [30, 45, 60, 90, 120, 180].map((m) => [m, fmtMinutes(m)]), 60))),
  h('div', { class: 'row' },
    field(t('event.f.min'), input('min_participants', { type: 'number', min: 1, max: cap, value: 1, required: true })),
    field(t('event.f.max'), input('max_participants', { type: 'number', min: 1, max: cap, value: Math.min(10, cap), required: true }), t('event.cap', { cap })),
    field(t('event.f.price'), input('price_cents', { type: 'text', inputmode: 'decimal', value: centsToInput(Math.max(s.min_prices.event, 2000)), required: true }),
      t('event.price.hint', { min: money(s.min_prices.event) }))),
  h('button', { type: 'submit' }, t('event.create.submit')));
  const evList = list(evs, (ev) => [
    h('h3', {}, h('a', { href: `#/events/${encodeURIComponent(ev.id)}` }, ev.title)),
    dl([[t('event.when'), when(ev.start)], [t('book.price'), money(ev.price_cents)],
      [t('event.participants'), t('event.registered.count', { n: ev.registered, min: ev.min_participants, max: ev.max_participants })],
      [t('event.status'), statusBadge('event', ev.status)]]),
    ev.status === 'scheduled' && new Date(ev.start) > now() ? h('button', { type: 'button', class: 'small secondary', onclick: async (e) => {
      if (!confirm(t('event.cancel.confirm'))) return;
      try { await api.cancelEvent(ev.id, `cancel-${ev.id}`); flash(t('event.cancelled')); app.go('/expert/events'); } catch (err) { e.target.after(h('span', { class: 'error', role: 'alert' }, err.message)); }
    } }, t('event.cancel', { title: ev.title })) : null], t('event.none'));
  return h('div', { class: 'events' },
    h('h1', {}, t('event.screen')),
    loadErr ? loadError(loadErr) : null,
    section(t('event.create'), 2, h('p', { class: 'hint' }, t('event.create.hint')), form),
    section(t('event.mine'), 2, evList));
}

export async function earnings(app) {
  let e = null;
  let payouts = [];
  let prof = null;
  let loadErr = null;
  try { [e, payouts, prof] = await Promise.all([api.earnings(app.user.id), api.payouts(app.user.id), api.myProfile()]); } catch (err) { loadErr = err; }
  const cur = (e && e.currency) || 'EUR';
  const b = (prof && prof.billing) || {};
  const form = h('form', { novalidate: true, id: 'billing-form', onsubmit: async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    const el = form.elements;
    const billing = { holder_name: el.holder_name.value.trim(), iban: el.iban.value.replace(/\s/g, '').toUpperCase(), country: el.country.value.trim().toUpperCase() };
    if (!billing.holder_name) return showError(form, { field: 'holder_name', message: t('billing.holder.required') });
    if (!billing.iban) return showError(form, { field: 'iban', message: t('billing.iban.required') });
    await busy(form, async () => {
      try { await api.updateProfile({ billing }); flash(t('billing.saved')); app.go('/expert/earnings'); } catch (err) { showError(form, err); }
    });
  } }, formError(),
  field(t('billing.holder'), input('holder_name', { type: 'text', autocomplete: 'name', value: b.holder_name || '', maxlength: 70 })),
  field(t('billing.iban'), input('iban', { type: 'text', autocomplete: 'off', value: b.iban || '', spellcheck: 'false' })),
  field(t('billing.country'), input('country', { type: 'text', maxlength: 2, value: b.country || '', autocomplete: 'country' }), t('billing.country.hint')),
  h('button', { type: 'submit' }, t('billing.submit')));
  return h('div', { class: 'earnings' },
    h('h1', {}, t('earn.title')),
    h('p', { class: 'lead' }, t('earn.lead')),
    loadErr ? loadError(loadErr) : null,
    e ? h('dl', { class: 'money', id: 'earnings' },
      ['escrow', 'pending', 'payable', 'paid'].map((k) => h('div', { class: 'tile' },
        h('dt', {}, t(`earn.${k}`)), h('dd', { 'data-amount': k }, money(e[`${k}_cents`], cur)), h('dd', { class: 'hint' }, t(`earn.${k}.hint`))))) : null,
    e ? h('p', {}, t('earn.next', { date: fmtDateTime(e.next_payout), threshold: money(e.threshold_cents, cur) })) : null,
    e && !e.has_billing ? h('p', { class: 'warn', role: 'status' }, t('earn.nobilling')) : null,
    section(t('billing.title'), 2, form),
    section(t('earn.payouts'), 2, list(payouts, (p) => [h('p', {}, p.run_date, ' · ', h('strong', {}, money(p.amount_cents, cur)))], t('earn.payouts.none'))));
}

export async function profile(app) {
  let p;
  try { p = await api.myProfile(); } catch (err) { return h('div', {}, h('h1', {}, t('prof.title')), loadError(err)); }
  const link = shareLink(p.slug);
  const form = h('form', { novalidate: true, id: 'profile-form', onsubmit: async (e) => {
    e.preventDefault();
    clearErrors(form);
    const el = form.elements;
    const up = { headline: el.headline.value.trim(), bio: el.bio.value.trim(), time_zone: el.time_zone.value.trim(), slug: el.slug.value.trim(),
      languages: [...form.querySelectorAll('input[name=languages]:checked')].map((x) => x.value) };
    await busy(form, async () => {
      try { await api.updateProfile(up); flash(t('prof.saved')); app.go('/expert/profile'); } catch (err) { showError(form, err); }
    });
  } }, formError(),
  field(t('prof.headline'), input('headline', { type: 'text', value: p.headline || '', maxlength: 200 })),
  field(t('prof.bio'), h('textarea', { name: 'bio', rows: 5, maxlength: 10000 }, p.bio || '')),
  languageBoxes(p.languages || []),
  field(t('prof.tz'), input('time_zone', { type: 'text', value: p.time_zone || timeZone() }), t('avail.tz.hint')),
  field(t('prof.slug'), input('slug', { type: 'text', value: p.slug || '', pattern: '[a-z0-9-]+' }), t('prof.slug.hint')),
  h('button', { type: 'submit' }, t('prof.submit')));
  return h('div', { class: 'profile-edit' },
    h('h1', {}, t('prof.title')),
    h('p', {}, t('prof.link'), ' ', h('a', { href: link, id: 'my-link' }, link)),
    form);
}

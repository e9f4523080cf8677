// Operator screens: escalated claims with the presence evidence and the
// decision (CLM-5), flagged experts and account closure (CLM-6, ACC-3),
// payouts (PAY-6), settings and one expert's cap (EVT-2, PAY-3), failed
// background jobs, and the simulation clock when the binary runs with
// --clock=sim.
import { api } from '../api.js';
import { t, fmtDateTime, parseMoney, centsToInput } from '../i18n.js';
import { flash, h, field, input, formError, clearErrors, showError, errorText, busy, announce, section, uid } from '../dom.js';
import { money, when, dl, statusBadge, loadError, list, hours } from './common.js';
import { syncClock } from '../clock.js';

export async function claims(app) {
  let cs;
  try { cs = await api.claims(); } catch (err) { return h('div', {}, h('h1', {}, t('op.claims.title')), loadError(err)); }
  return h('div', { class: 'op-claims' },
    h('h1', {}, t('op.claims.title')),
    h('p', { class: 'lead' }, t('op.claims.lead')),
    list(cs, (c) => [
      h('h2', { class: 'h3' }, h('a', { href: `#/claims/${encodeURIComponent(c.id)}`, 'data-claim': c.id }, t('op.claim.link', { id: c.id.slice(0, 8) }))),
      dl([[t('claim.status'), statusBadge('claim', c.status)], [t('op.claim.opened'), when(c.opened_at)],
        c.escalated_at ? [t('op.claim.escalated'), when(c.escalated_at)] : null, [t('claim.reason'), c.reason]])],
    t('op.claims.none')),
    await simClock(app));
}

// simClock lets an operator move the platform's time in a --clock=sim demo;
// it is absent when the binary runs on the wall clock.
async function simClock(app) {
  let c;
  try { c = await api.simClock(); } catch { return null; }
  syncClock(c.now);
  const form = h('form', { novalidate: true, id: 'clock-form', onsubmit: async (e) => {
    e.preventDefault();
    clearErrors(form);
    const adv = form.elements.advance.value.trim();
    if (!/^\d+(\.\d+)?(h|m|s)$/.test(adv)) return showError(form, { field: 'advance', message: t('op.clock.invalid') });
    await busy(form, async () => {
      try { const r = await api.moveSimClock({ advance: adv }); syncClock(r.now); flash(t('op.clock.moved', { now: fmtDateTime(r.now) })); app.go(app.route); } catch (err) { showError(form, err); }
    });
  } }, formError(),
  h('p', {}, t('op.clock.now'), ' ', when(c.now)),
  field(t('op.clock.advance'), input('advance', { type: 'text', value: '1h' }), t('op.clock.hint')),
  h('button', { type: 'submit' }, t('op.clock.submit')));
  return section(t('op.clock.title'), 2, form);
}

export async function flags(app) {
  let fs;
  try { fs = await api.flags(); } catch (err) { return h('div', {}, h('h1', {}, t('op.flags.title')), loadError(err)); }
  return h('div', {},
    h('h1', {}, t('op.flags.title')),
    h('p', { class: 'lead' }, t('op.flags.lead')),
    list(fs, (f) => {
      const out = h('div', { class: 'actions' });
      const btn = h('button', { type: 'button', class: 'danger small', disabled: f.closed, onclick: () => closeDialog(app, f, btn, out) },
        t('op.flags.close', { name: f.name }));
      out.append(btn);
      return [h('h2', { class: 'h3' }, f.name),
        dl([[t('op.flags.count'), String(f.escalations)], [t('op.flags.since'), when(f.since)],
          [t('op.flags.state'), f.closed ? t('op.flags.closed') : t('op.flags.open')]]), out];
    }, t('op.flags.none')));
}

function closeDialog(app, f, opener) {
  const titleId = uid('dlg');
  const form = h('form', { method: 'dialog', onsubmit: async (e) => {
    e.preventDefault();
    await busy(form, async () => {
      try { await api.closeAccount(f.expert_id); dlg.close(); flash(t('op.flags.closed.done', { name: f.name })); app.go('/operator/flags'); } catch (err) { showError(form, err); }
    });
  } }, formError(), h('p', { class: 'warn' }, t('op.flags.close.consequence')),
  h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'danger' }, t('op.flags.close.confirm')),
    h('button', { type: 'button', class: 'secondary', onclick: () => dlg.close() }, t('common.back'))));
  const dlg = h('dialog', { 'aria-labelledby': titleId, class: 'dialog' }, h('h2', { id: titleId }, t('op.flags.close', { name: f.name })), form);
  dlg.addEventListener('close', () => { dlg.remove(); opener.focus(); });
  document.body.append(dlg);
  dlg.showModal();
}

export async function payouts() {
  let s;
  try { s = await api.settings(); } catch (err) { return h('div', {}, h('h1', {}, t('op.payouts.title')), loadError(err)); }
  const out = h('div', { id: 'payout-result', 'aria-live': 'polite' });
  const form = h('form', { novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    clearErrors(form);
    const id = form.elements.expert_id.value.trim();
    if (!id) return showError(form, { field: 'expert_id', message: t('op.expert.required') });
    await busy(form, async () => {
      try {
        const [earn, ps] = await Promise.all([api.earnings(id), api.payouts(id)]);
        out.replaceChildren(dl([[t('earn.payable'), money(earn.payable_cents, earn.currency)], [t('earn.paid'), money(earn.paid_cents, earn.currency)],
          [t('earn.next.short'), when(earn.next_payout)], [t('op.payouts.billing'), earn.has_billing ? t('common.yes') : t('common.no')]]),
        list(ps, (p) => [h('p', {}, p.run_date, ' · ', money(p.amount_cents, earn.currency), ' · ', when(p.at))], t('earn.payouts.none')));
      } catch (err) { showError(form, err); }
    });
  } }, formError(), field(t('op.expert.id'), input('expert_id', { type: 'text', autocomplete: 'off' })), h('button', { type: 'submit' }, t('op.payouts.show')));
  let runs;
  try { runs = await api.payoutRuns(); } catch (err) { runs = err; }
  const runList = runs instanceof Error || !Array.isArray(runs) ? loadError(runs) : list(runs, (r) => [
    h('h3', {}, t('op.payouts.run', { date: r.run_date, count: r.payouts.length, total: money(r.total_cents, s.currency) })),
    h('ul', {}, ...r.payouts.map((p) => h('li', {}, p.expert_id, ' · ', money(p.amount_cents, s.currency), ' · ', when(p.at))))],
  t('op.payouts.runs.none'));
  return h('div', {},
    h('h1', {}, t('op.payouts.title')),
    h('p', { class: 'lead' }, t('op.payouts.lead', { days: s.payout_days.join(t('common.and')), tz: s.platform_time_zone, threshold: money(s.payout_threshold_cents, s.currency) })),
    section(t('op.payouts.runs'), 2, h('div', { id: 'payout-runs' }, runList)),
    section(t('op.payouts.expert'), 2, form, out));
}

// jobs shows the background queue and the jobs that failed: retrying on
// their own, or dead-lettered until an operator retries or resolves them.
export async function jobs(app) {
  let v;
  try { v = await api.jobs(); } catch (err) { return h('div', {}, h('h1', {}, t('op.jobs.title')), loadError(err)); }
  const act = (j, fn, done) => async (e) => {
    const btn = e.currentTarget;
    btn.disabled = true;
    try { await fn(j.id); flash(t(done, { kind: jobKind(j.kind) })); app.go('/operator/jobs'); } catch (err) {
      btn.disabled = false;
      announce(errorText(err));
    }
  };
  return h('div', { class: 'op-jobs' },
    h('h1', {}, t('op.jobs.title')),
    h('p', { class: 'lead' }, t('op.jobs.lead')),
    dl([[t('op.jobs.due'), String(v.due)], [t('op.jobs.overdue'), String(v.overdue)],
      v.overdue ? [t('op.jobs.oldest'), t('op.jobs.seconds', { n: v.oldest_due_seconds })] : null,
      [t('op.jobs.retrying'), String(v.retrying)], [t('op.jobs.dead'), String(v.dead_letter)]]),
    section(t('op.jobs.failed'), 2, list(v.failed, (j) => [
      h('h3', {}, jobKind(j.kind), ' ', h('span', { class: `badge badge-${j.dead ? 'dead' : 'retrying'}` }, t(j.dead ? 'op.jobs.state.dead' : 'op.jobs.state.retrying'))),
      dl([[t('op.jobs.target'), h('code', {}, j.target)], [t('op.jobs.attempts'), String(j.attempts)],
        [t('op.jobs.first'), when(j.first_failed_at)], [t('op.jobs.last'), when(j.last_failed_at)],
        j.dead ? null : [t('op.jobs.next'), when(j.next_attempt)], [t('op.jobs.error'), h('code', {}, j.last_error)]]),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'small', 'data-retry': j.id, onclick: act(j, api.retryJob, 'op.jobs.retried') }, t('op.jobs.retry')),
        h('button', { type: 'button', class: 'secondary small', 'data-resolve': j.id, onclick: act(j, api.resolveJob, 'op.jobs.resolved') }, t('op.jobs.resolve')))],
    t('op.jobs.none'))));
}

// notices is the e-mail outbox: what the platform sent or would send, with
// each message's delivery and its text as the recipient reads it. Without a
// mail server (and in a --clock=sim demo) it shows exactly what would go out.
export async function notices(app) {
  let ns;
  const state = new URLSearchParams(location.hash.split('?')[1] || '').get('state') || '';
  try { ns = await api.notices(state); } catch (err) { return h('div', {}, h('h1', {}, t('op.notices.title')), loadError(err)); }
  const view = h('div', { id: 'notice-view', 'aria-live': 'polite' });
  const show = async (n) => {
    try {
      const v = await api.notice(n.id);
      view.replaceChildren(section(v.preview.subject || t(`op.notices.kind.${n.kind}`), 2,
        dl([[t('op.notices.to'), `${n.name} <${n.email}>`], [t('op.notices.lang'), n.locale]]),
        h('pre', { class: 'mail-text' }, v.preview.text)));
      view.scrollIntoView();
    } catch (err) { announce(errorText(err)); }
  };
  const resend = async (e, n) => {
    e.currentTarget.disabled = true;
    try { await api.resendNotice(n.id); flash(t('op.notices.resent')); app.go(app.route); } catch (err) { announce(errorText(err)); }
  };
  const filters = h('p', { class: 'actions' }, ...['', 'queued', 'retrying', 'sent', 'failed'].map((st) =>
    h('a', { href: st ? `#/operator/notices?state=${st}` : '#/operator/notices', 'aria-current': st === state ? 'page' : null },
      t(st ? `op.notices.state.${st}` : 'op.notices.all'))));
  return h('div', { class: 'op-notices' },
    h('h1', {}, t('op.notices.title')),
    h('p', { class: 'lead' }, t('op.notices.lead')),
    filters,
    list(ns, (n) => [
      h('h2', { class: 'h3' }, t(`op.notices.kind.${n.kind}`), ' ', statusBadge('notice', n.state)),
      dl([[t('op.notices.to'), n.email], [t('op.notices.created'), when(n.created_at)],
        [t('op.jobs.attempts'), String(n.attempts)], n.last_error ? [t('op.jobs.error'), h('code', {}, n.last_error)] : null]),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'small secondary', 'data-show': n.id, onclick: () => show(n) }, t('op.notices.show')),
        n.state === 'failed' ? h('button', { type: 'button', class: 'small', 'data-resend': n.id, onclick: (e) => resend(e, n) }, t('op.notices.resend')) : null)],
    t('op.notices.none')),
    view);
}

function jobKind(k) {
  const key = `op.jobs.kind.${k}`;
  const label = t(key);
  return label === key ? k : label;
}

export async function settings(app) {
  let s;
  try { s = await api.settings(); } catch (err) { return h('div', {}, h('h1', {}, t('op.settings.title')), loadError(err)); }
  const mp = s.min_prices;
  const form = h('form', { novalidate: true, id: 'settings-form', onsubmit: async (e) => {
    e.preventDefault();
    clearErrors(form);
    const el = form.elements;
    const prices = {};
    for (const k of ['video', 'audio', 'chat', 'event']) {
      prices[k] = parseMoney(el[`min_${k}`].value);
      if (!Number.isFinite(prices[k])) return showError(form, { field: `min_${k}`, message: t('avail.price.invalid') });
    }
    const cap = Number(el.event_cap.value);
    await busy(form, async () => {
      try { await api.updateSettings({ event_cap: cap, min_prices: prices }); flash(t('op.settings.saved')); app.go('/operator/settings'); } catch (err) {
        showError(form, err.field && err.field.startsWith('min_prices') ? { ...err, field: `min_${err.field.split('.').pop()}` } : err);
      }
    });
  } }, formError(),
  field(t('op.settings.cap'), input('event_cap', { type: 'number', min: 1, max: s.media_server_max, value: s.event_cap }), t('op.settings.cap.hint', { max: s.media_server_max })),
  h('fieldset', {}, h('legend', {}, t('op.settings.min')),
    ['video', 'audio', 'chat', 'event'].map((k) => field(t(`op.settings.min.${k}`), input(`min_${k}`, { type: 'text', inputmode: 'decimal', value: centsToInput(mp[k]) })))),
  h('button', { type: 'submit' }, t('op.settings.submit')));
  const capForm = h('form', { novalidate: true, id: 'cap-form', onsubmit: async (e) => {
    e.preventDefault();
    clearErrors(capForm);
    const id = capForm.elements.expert_id.value.trim();
    const cap = Number(capForm.elements.event_cap.value);
    if (!id) return showError(capForm, { field: 'expert_id', message: t('op.expert.required') });
    await busy(capForm, async () => {
      try { await api.setExpertCap(id, cap); announce(t('op.cap.saved', { cap })); capForm.reset(); } catch (err) { showError(capForm, err.field === 'id' ? { ...err, field: 'expert_id' } : err); }
    });
  } }, formError(),
  field(t('op.expert.id'), input('expert_id', { type: 'text', autocomplete: 'off' })),
  field(t('op.cap.value'), input('event_cap', { type: 'number', min: 0, max: s.media_server_max, value: s.event_cap }), t('op.cap.hint', { max: s.media_server_max })),
  h('button', { type: 'submit' }, t('op.cap.submit')));
  return h('div', {},
    h('h1', {}, t('op.settings.title')),
    dl([[t('op.settings.cancel'), t('common.hours', { n: hours(s.client_cancel_window) })], [t('op.settings.claim'), t('common.hours', { n: hours(s.claim_window) })],
      [t('op.settings.share'), `${s.platform_share_basis_pts / 100} %`], [t('op.settings.support'), s.support_email]]),
    section(t('op.settings.edit'), 2, form),
    section(t('op.cap.title'), 2, h('p', {}, t('op.cap.lead')), capForm));
}

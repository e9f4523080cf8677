// Pieces shared by several screens.
import { api } from '../api.js';
import { t, fmtMoney, fmtDateTime, locale } from '../i18n.js';
import { h } from '../dom.js';

// Defaults of RULES.md, used only until the server's settings arrive.
const DEFAULTS = {
  event_cap: 49, min_prices: { video: 1000, audio: 800, chat: 500, event: 500 },
  payout_threshold_cents: 5000, payout_days: [1, 16], platform_time_zone: 'Europe/Paris',
  client_cancel_window: 48 * 3600e9, claim_window: 72 * 3600e9, expert_presence_min: 5 * 60e9,
  platform_share_basis_pts: 1000, currency: 'EUR', support_email: 'support@atlas11.example',
  escalation_flag_count: 3, escalation_window: 90 * 24 * 3600e9, room_opens_before: 10 * 60e9,
};

let cached = null;

// settings returns the platform's public settings (minimum prices, cap,
// windows), falling back to the documented defaults when unavailable.
export async function settings() {
  if (cached) return cached;
  try { cached = { ...DEFAULTS, ...(await api.publicSettings()) }; } catch { return { ...DEFAULTS }; }
  const mail = document.getElementById('support-email');
  if (mail && cached.support_email) { mail.href = `mailto:${cached.support_email}`; mail.textContent = cached.support_email; }
  return cached;
}

// hours converts a Go duration (nanoseconds) or a number of hours to hours.
export function hours(d) { return d > 1e6 ? Math.round(d / 3600e9) : d; }
export function minutes(d) { return d > 1e6 ? Math.round(d / 60e9) : d; }

export function mediaLabel(m) { return t(`media.${m}`); }

// languageName names a BCP 47 tag in the viewer's language (« anglais »),
// keeping the tag itself when the browser does not know it.
export function languageName(tag) {
  try {
    return new Intl.DisplayNames([locale()], { type: 'language' }).of(tag) || tag;
  } catch { return tag; }
}

export function list(items, render, emptyText) {
  if (!items || items.length === 0) return h('p', { class: 'empty' }, emptyText);
  return h('ul', { class: 'cards' }, items.map((x) => h('li', { class: 'card' }, render(x))));
}

export function money(c, cur) { return fmtMoney(c, cur || 'EUR'); }

// when shows an instant in the viewer's zone inside a <time> element.
export function when(v) {
  return h('time', { datetime: new Date(v).toISOString() }, fmtDateTime(v));
}

// dl builds a description list from [term, value] pairs.
export function dl(pairs, cls = 'facts') {
  return h('dl', { class: cls }, pairs.filter(Boolean).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

// statusBadge shows a status with its translated name.
export function statusBadge(kind, s) {
  const k = `status.${kind}.${s}`;
  const label = t(k);
  return h('span', { class: `badge badge-${s}` }, label === k ? s : label);
}

// loadError shows why a screen could not load.
export function loadError(err) {
  return h('p', { class: 'form-error', role: 'alert' }, err && err.message ? err.message : t('error.generic'));
}

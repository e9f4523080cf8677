// Language and formatting (LANG-1, TIME-1). French by default; English on
// request through ?lang=en or the switch, remembered in localStorage. Every
// visible string comes from one dictionary per language (i18n/<lang>.json).
// Dates, times and prices use Intl in the viewer's locale and time zone.

export const LANGS = ['fr', 'en'];
const STORE_KEY = 'atlas11.lang';

const state = { lang: 'fr', dict: {} };

// initI18n picks the language and loads its dictionary.
export async function initI18n() {
  const q = new URLSearchParams(location.search).get('lang');
  if (LANGS.includes(q)) localStorage.setItem(STORE_KEY, q);
  const saved = localStorage.getItem(STORE_KEY);
  state.lang = LANGS.includes(saved) ? saved : 'fr';
  const res = await fetch(`/i18n/${state.lang}.json`);
  state.dict = await res.json();
  document.documentElement.lang = state.lang;
}

// setLang stores the choice; the caller reloads so every screen is redrawn.
export function setLang(lang) {
  if (LANGS.includes(lang)) localStorage.setItem(STORE_KEY, lang);
}

export function lang() { return state.lang; }

// t returns the string for key with {name} placeholders filled; the key
// itself when missing (a test checks that none is missing).
export function t(key, vars) {
  let s = state.dict[key];
  if (s === undefined) return key;
  if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
  return s;
}

// locale is the viewer's own locale for the chosen language (fr-CA, en-US...),
// so formats follow the viewer, not a fixed country.
export function locale() {
  const langs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || ''];
  const own = langs.find((l) => l && l.toLowerCase().split('-')[0] === state.lang);
  return own || (state.lang === 'en' ? 'en-GB' : 'fr-FR');
}

// timeZone is the viewer's IANA zone.
export function timeZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

function toDate(v) { return v instanceof Date ? v : new Date(v); }

// fmtDateTime shows an instant in the viewer's zone, with the zone's name so
// nobody misreads a deadline.
export function fmtDateTime(v, tz) {
  return new Intl.DateTimeFormat(locale(), {
    weekday: 'short', day: 'numeric', month: 'short', year: 'numeric',
    hour: '2-digit', minute: '2-digit', timeZoneName: 'short', timeZone: tz || timeZone(),
  }).format(toDate(v));
}

export function fmtDate(v, tz) {
  return new Intl.DateTimeFormat(locale(), {
    weekday: 'long', day: 'numeric', month: 'long', timeZone: tz || timeZone(),
  }).format(toDate(v));
}

export function fmtTime(v, tz) {
  return new Intl.DateTimeFormat(locale(), { hour: '2-digit', minute: '2-digit', timeZone: tz || timeZone() })
    .format(toDate(v));
}

// fmtMoney formats integer minor units (cents).
export function fmtMoney(cents, currency = 'EUR') {
  return new Intl.NumberFormat(locale(), { style: 'currency', currency }).format(Number(cents) / 100);
}

// fmtDuration shows a length in minutes.
export function fmtMinutes(min) {
  return new Intl.NumberFormat(locale(), { style: 'unit', unit: 'minute', unitDisplay: 'long' }).format(min);
}

// weekdayName names a weekday (0 = Sunday) in the viewer's language.
export function weekdayName(d) {
  // 2024-01-07 was a Sunday.
  return new Intl.DateTimeFormat(locale(), { weekday: 'long', timeZone: 'UTC' })
    .format(new Date(Date.UTC(2024, 0, 7 + d)));
}

// parseMoney reads a price typed by a person ("12,50" or "12.50") into cents;
// NaN when it is not a price.
export function parseMoney(s) {
  const m = String(s).trim().replace(/\s/g, '').match(/^(\d{1,7})(?:[.,](\d{1,2}))?$/);
  if (!m) return NaN;
  return Number(m[1]) * 100 + Number((m[2] || '0').padEnd(2, '0'));
}

// centsToInput writes cents back for an input field.
export function centsToInput(c) {
  const s = (Number(c) / 100).toFixed(2);
  return state.lang === 'fr' ? s.replace('.', ',') : s;
}

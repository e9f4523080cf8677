// Small DOM helpers: the app builds its screens with h() so that every text
// goes through the dictionary and every control gets a label.
import { t } from './i18n.js';

// h builds an element. attrs: plain attributes, plus on* handlers, "class",
// "text" (textContent) and boolean attributes given as true/false.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else if (k === 'class') el.className = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

let idSeq = 0;
// uid returns an id unique in the page, for label/input and aria links.
export function uid(prefix = 'f') {
  idSeq += 1;
  return `${prefix}-${idSeq}`;
}

// field builds a labelled control with a hint and an error slot. The control's
// name is the API field it feeds, so an API error with that field lands here.
export function field(label, control, hint) {
  const id = control.id || uid(control.name || 'f');
  control.id = id;
  const errId = `${id}-err`;
  const hintId = hint ? `${id}-hint` : null;
  const described = [hintId, errId].filter(Boolean).join(' ');
  control.setAttribute('aria-describedby', described);
  return h('div', { class: 'field' },
    h('label', { for: id }, label),
    control,
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
    h('p', { class: 'error', id: errId, hidden: true, 'data-error-for': control.name || '' }));
}

// input is a shorthand for h('input').
export function input(name, attrs = {}) {
  return h('input', { name, ...attrs });
}

// select builds a <select> from [value, label] pairs.
export function select(name, options, value, attrs = {}) {
  return h('select', { name, ...attrs },
    options.map(([v, l]) => h('option', { value: v, selected: String(v) === String(value) }, l)));
}

// announce says something to screen readers through the polite live region.
export function announce(msg) {
  const live = document.getElementById('live');
  if (!live) return;
  live.textContent = '';
  // A fresh text node after a tick makes screen readers repeat equal messages.
  setTimeout(() => { live.textContent = msg; }, 30);
}

// clearErrors hides every error of a form.
export function clearErrors(form) {
  for (const p of form.querySelectorAll('.error')) { p.hidden = true; p.textContent = ''; }
  for (const c of form.querySelectorAll('[aria-invalid]')) c.removeAttribute('aria-invalid');
  const fe = form.querySelector('.form-error');
  if (fe) { fe.hidden = true; fe.textContent = ''; }
}

// showError puts an error next to what caused it: the control named by the
// error's field when the form has one, else the form's own error box. The
// message is focused and announced, so nothing fails silently.
export function showError(form, err) {
  const msg = errorText(err);
  const name = err && err.field ? err.field : '';
  const control = name ? findControl(form, name) : null;
  const slot = control && (form.querySelector(`#${CSS.escape(control.id)}-err`)
    || form.querySelector(`[data-error-for="${CSS.escape(control.name)}"]`));
  if (control && slot) {
    control.setAttribute('aria-invalid', 'true');
    slot.textContent = msg;
    slot.hidden = false;
    control.focus();
  } else {
    let fe = form.querySelector('.form-error');
    if (!fe) { fe = h('p', { class: 'form-error', role: 'alert', tabindex: '-1' }); form.prepend(fe); }
    fe.textContent = msg;
    fe.hidden = false;
    fe.focus();
  }
  announce(msg);
}

// findControl matches an API field to a control: by exact name, then by the
// last path segment (billing.iban -> iban), then by data-fields aliases.
function findControl(form, name) {
  const last = name.split('.').pop();
  for (const n of [name, last]) {
    const c = form.querySelector(`[name="${CSS.escape(n)}"]`);
    if (c) return c;
  }
  for (const c of form.querySelectorAll('[data-fields]')) {
    if (c.dataset.fields.split(' ').some((f) => f === name || f === last)) return c;
  }
  return null;
}

// errorText translates an API error by its code when the dictionary knows it
// and keeps the server's message otherwise.
export function errorText(err) {
  if (!err) return t('error.generic');
  if (err.code) {
    const k = `err.${err.code}`;
    const tr = t(k);
    if (tr !== k) return tr;
  }
  return err.message || t('error.generic');
}

// formError builds the empty form-level error box placed at the top of a form.
export function formError() {
  return h('p', { class: 'form-error', role: 'alert', tabindex: '-1', hidden: true });
}

// busy disables a form's submit button while a request runs.
export async function busy(form, fn) {
  const btn = form.querySelector('[type=submit]');
  if (btn) btn.disabled = true;
  form.setAttribute('aria-busy', 'true');
  try { return await fn(); } finally {
    if (btn) btn.disabled = false;
    form.removeAttribute('aria-busy');
  }
}

// idemKey returns the form's idempotency key, created once per form so that
// a retried submission moves money only once (PAY-7).
export function idemKey(form) {
  if (!form.dataset.idem) form.dataset.idem = randomKey();
  return form.dataset.idem;
}

// randomKey returns 128 random bits in hex (randomUUID needs a secure context).
export function randomKey() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

// section builds a titled region with a heading of the given level.
export function section(title, level, ...children) {
  const id = uid('s');
  return h('section', { 'aria-labelledby': id }, h(`h${level}`, { id }, title), ...children);
}

let pending = '';

// flash keeps a message for the next screen: it is shown at the top of the
// screen and announced once the screen is drawn (an announcement made just
// before navigating would be lost).
export function flash(msg) { pending = msg; }

// takeFlash returns and clears the pending message.
export function takeFlash() {
  const m = pending;
  pending = '';
  return m;
}

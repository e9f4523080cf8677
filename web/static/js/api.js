// The control plane API (/api/v1). Every route the app uses is listed here,
// so the whole contract with the server reads in one file.
import { t } from './i18n.js';

const BASE = '/api/v1';

// APIError carries the server's error shape {"error":{code,message,field}}.
export class APIError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field || '';
  }
}

// request sends JSON and returns the decoded answer. Money-moving calls pass
// an idempotency key so a retry never charges twice.
export async function request(method, path, body, idem) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (idem) headers['Idempotency-Key'] = idem;
  let res;
  try {
    res = await fetch(BASE + path, {
      method, headers, credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new APIError(0, 'network', t('error.network'), '');
  }
  if (res.status === 204) return null;
  let data = null;
  try { data = await res.json(); } catch { data = null; }
  if (!res.ok) {
    const e = (data && data.error) || {};
    throw new APIError(res.status, e.code || `http_${res.status}`, e.message || t('error.generic'), e.field);
  }
  return data;
}

const get = (p) => request('GET', p);
const post = (p, b, idem) => request('POST', p, b, idem);
const put = (p, b) => request('PUT', p, b);
const del = (p) => request('DELETE', p);
const q = (o) => `?${new URLSearchParams(o)}`;
const enc = encodeURIComponent;

// api names every call the app makes (control/api/routes.go is the server side).
export const api = {
  // accounts (ACC-1): /me answers {user, support_email}
  me: () => get('/me'),
  signUp: (b) => post('/auth/signup', b),
  signIn: (b) => post('/auth/signin', b),
  signOut: () => post('/auth/signout'),
  // Public settings (minimum prices, cap, windows); the screens fall back to
  // the documented defaults while the server has no such route.
  publicSettings: () => get('/settings'),

  // expert profile (ACC-2)
  publicProfile: (ref) => get(`/experts/${enc(ref)}`),
  myProfile: () => get('/me/profile'),
  updateProfile: (b) => request('PATCH', '/me/profile', b),

  // availability (APT-1)
  rules: () => get('/me/availability-rules'),
  addRule: (b) => post('/me/availability-rules', b),
  deleteRule: (id) => del(`/me/availability-rules/${enc(id)}`),
  addSlot: (b) => post('/me/slots', b),
  deleteSlot: (id) => del(`/me/slots/${enc(id)}`),
  slots: (ref, from, to) => get(`/experts/${enc(ref)}/slots${q({ from, to })}`),

  // bookings (APT-2..7)
  book: (b, idem) => post('/bookings', b, idem),
  booking: (id) => get(`/bookings/${enc(id)}`),
  cancelBooking: (id, idem) => post(`/bookings/${enc(id)}/cancel`, undefined, idem),

  // events (EVT-1..8)
  createEvent: (b) => post('/events', b),
  event: (id) => get(`/events/${enc(id)}`),
  expertEvents: (ref, from, to) => get(`/experts/${enc(ref)}/events${q({ from, to })}`),
  register: (id, idem) => post(`/events/${enc(id)}/register`, undefined, idem),
  registrations: (id) => get(`/events/${enc(id)}/registrations`),
  cancelEvent: (id, idem) => post(`/events/${enc(id)}/cancel`, undefined, idem),

  // activity (ACC-4)
  activity: () => get('/me/activity'),

  // claims (CLM-1..6)
  openClaim: (bookingID, reason) => post('/claims', { booking_id: bookingID, reason }),
  claim: (id) => get(`/claims/${enc(id)}`),
  claims: () => get('/claims'),
  respondClaim: (id, b, idem) => post(`/claims/${enc(id)}/respond`, b, idem),
  acceptClaim: (id) => post(`/claims/${enc(id)}/accept`),
  rejectClaim: (id) => post(`/claims/${enc(id)}/reject`),
  decideClaim: (id, b, idem) => post(`/claims/${enc(id)}/decide`, b, idem),

  // money (PAY-1..7)
  earnings: (ref) => get(`/experts/${enc(ref)}/earnings`),
  payouts: (ref) => get(`/experts/${enc(ref)}/payouts`),
  payoutRuns: () => get('/operator/payouts'),
  jobs: () => get('/operator/jobs'),
  retryJob: (id) => post(`/operator/jobs/${enc(id)}/retry`),
  resolveJob: (id) => post(`/operator/jobs/${enc(id)}/resolve`),
  newCalendarFeed: () => post('/me/calendar-feed'),
  requestPasswordReset: (b) => post('/auth/password-reset', b),
  verifyEmail: (b) => post('/auth/verify-email', b),
  changeEmail: (b) => post('/me/email', b),
  confirmPasswordReset: (b) => post('/auth/password-reset/confirm', b),
  updatePreferences: (b) => request('PATCH', '/me', b),
  revokeCalendarFeed: () => request('DELETE', '/me/calendar-feed'),
  notices: (state) => get(state ? `/operator/notices?state=${enc(state)}` : '/operator/notices'),
  notice: (id) => get(`/operator/notices/${enc(id)}`),
  resendNotice: (id) => post(`/operator/notices/${enc(id)}/resend`),

  // operator
  flags: () => get('/operator/flags'),
  closeAccount: (userID) => post(`/operator/users/${enc(userID)}/close`),
  expertProfile: (id) => get(`/operator/experts/${enc(id)}/profile`),
  setExpertCap: (expertID, cap) => put(`/operator/experts/${enc(expertID)}/event-cap`, { event_cap: cap }),
  settings: () => get('/operator/settings'),
  updateSettings: (b) => request('PATCH', '/operator/settings', b),
  simClock: () => get('/sim/clock'),
  moveSimClock: (b) => post('/sim/clock', b),

  // calls (CALL-1, CALL-3)
  callToken: (room) => post(`/calls/${enc(room)}/token`),
  presence: (room, user) => get(`/calls/${enc(room)}/presence/${enc(user)}`),
};

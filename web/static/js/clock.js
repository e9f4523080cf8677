// The server's "now". With --clock=sim the platform's time is not the
// browser's, and deadlines (48 h, 72 h) must be judged on the platform's
// clock, so screens read now() here instead of Date.now().
let offsetMs = 0;

// syncClock records the server's time when an answer carries it.
export function syncClock(serverNow) {
  if (!serverNow) return;
  const t = new Date(serverNow).getTime();
  if (!Number.isNaN(t)) offsetMs = t - Date.now();
}

export function now() { return new Date(Date.now() + offsetMs); }

// The call screen (CALL-1..3): admission check, a device check with preview
// and device choice, then the 1:1 or event view with mute, camera off, leave,
// a connection-quality indicator and who is present. Signaling and WebRTC
// come from the media server's own module in /call/ (owned by the SFU).
import { api } from '../api.js';
import { t } from '../i18n.js';
import { flash, h, field, select, announce, section } from '../dom.js';

// refusal maps admission and signaling codes to what the person should read.
function refusalText(code) {
  const k = `call.refused.${code}`;
  const s = t(k);
  return s === k ? t('call.refused.other') : s;
}

export async function view(app, { room }) {
  const root = h('div', { class: 'call' }, h('h1', {}, t('call.title')));
  let admission;
  try {
    admission = await api.callToken(room);
  } catch (err) {
    root.append(h('div', { class: 'notice', role: 'alert', id: 'call-refused', 'data-code': err.code },
      h('p', {}, refusalText(err.code)), h('p', {}, h('a', { href: '#/activity' }, t('call.back')))));
    return root;
  }
  const media = admission.grant.media;
  const ctl = { stream: null, session: null, stopped: false, timers: [] };
  const cleanup = () => stopAll(ctl);
  root.append(h('p', { class: 'lead' }, t(`call.media.${media}`)));
  if (media === 'chat') {
    ctl.constraints = { audio: false, video: false };
    root.append(h('button', { type: 'button', id: 'join', onclick: () => join(app, root, room, admission, ctl) }, t('call.join')));
    return { node: root, cleanup };
  }
  root.append(await deviceCheck(root, media, ctl, () => join(app, root, room, admission, ctl)));
  return { node: root, cleanup };
}

function stopAll(ctl) {
  ctl.stopped = true;
  for (const id of ctl.timers) clearInterval(id);
  if (ctl.session) { try { ctl.session.leave(); } catch { /* already gone */ } }
  if (ctl.stream) for (const tr of ctl.stream.getTracks()) tr.stop();
  if (ctl.audioCtx) ctl.audioCtx.close();
}

// deviceCheck previews the camera and microphone and lets the person choose
// devices before joining.
async function deviceCheck(root, media, ctl, onJoin) {
  const wantVideo = media === 'video';
  const preview = h('video', { id: 'preview', autoplay: true, muted: true, playsinline: true, 'aria-label': t('call.preview') });
  preview.muted = true;
  const meter = h('meter', { id: 'mic-level', min: 0, max: 1, value: 0, 'aria-label': t('call.miclevel') });
  const status = h('p', { role: 'status', id: 'device-status' });
  const camSel = select('camera', [], '', { disabled: !wantVideo });
  const micSel = select('microphone', [], '');
  const joinBtn = h('button', { type: 'button', id: 'join', disabled: true, onclick: onJoin }, t('call.join'));
  async function open() {
    if (ctl.stream) for (const tr of ctl.stream.getTracks()) tr.stop();
    ctl.constraints = {
      audio: micSel.value ? { deviceId: { exact: micSel.value } } : true,
      video: wantVideo ? (camSel.value ? { deviceId: { exact: camSel.value } } : { width: 960, height: 540 }) : false,
    };
    try {
      ctl.stream = await navigator.mediaDevices.getUserMedia(ctl.constraints);
    } catch (err) {
      status.textContent = t('call.devices.denied');
      announce(status.textContent);
      joinBtn.disabled = true;
      return;
    }
    preview.srcObject = ctl.stream;
    status.textContent = t('call.devices.ok');
    joinBtn.disabled = false;
    listen(ctl, meter);
    const devs = await navigator.mediaDevices.enumerateDevices();
    fill(camSel, devs.filter((d) => d.kind === 'videoinput'), ctl.stream.getVideoTracks()[0]);
    fill(micSel, devs.filter((d) => d.kind === 'audioinput'), ctl.stream.getAudioTracks()[0]);
  }
  camSel.addEventListener('change', open);
  micSel.addEventListener('change', open);
  await open();
  return section(t('call.check'), 2,
    h('div', { class: 'device-check' },
      wantVideo ? preview : null,
      h('div', {},
        wantVideo ? field(t('call.camera'), camSel) : null,
        field(t('call.microphone'), micSel),
        h('p', {}, h('label', { for: 'mic-level' }, t('call.miclevel')), ' ', meter),
        status, joinBtn)));
}

function fill(sel, devs, track) {
  const current = track ? track.getSettings().deviceId : '';
  sel.replaceChildren(...devs.map((d, i) => h('option', { value: d.deviceId, selected: d.deviceId === current },
    d.label || t('call.device.n', { n: i + 1 }))));
}

// listen drives the microphone meter so the person sees they are heard.
function listen(ctl, meter) {
  try {
    if (!ctl.audioCtx) ctl.audioCtx = new AudioContext();
    const src = ctl.audioCtx.createMediaStreamSource(ctl.stream);
    const an = ctl.audioCtx.createAnalyser();
    an.fftSize = 256;
    src.connect(an);
    const buf = new Uint8Array(an.fftSize);
    ctl.timers.push(setInterval(() => {
      an.getByteTimeDomainData(buf);
      let peak = 0;
      for (const v of buf) peak = Math.max(peak, Math.abs(v - 128) / 128);
      meter.value = peak;
    }, 150));
  } catch { /* no audio context: the meter stays at zero */ }
}

// join connects through the media server's own page script, /call/call.js
// (owned by the SFU; protocol in sfu/signal.go), started in a scope
// where its DOM is this screen's, its token is ours and its camera and
// microphone are the ones chosen in the device check. Mute and camera off
// act on those tracks.
async function join(app, root, room, first, ctl) {
  let start;
  try {
    start = await callScript();
  } catch {
    root.append(h('p', { role: 'alert', class: 'form-error' }, t('call.unavailable')));
    return;
  }
  // A fresh token: the first one may have expired during the device check.
  let adm = first;
  try { adm = await api.callToken(room); } catch (err) {
    root.append(h('p', { role: 'alert', class: 'form-error', 'data-code': err.code }, refusalText(err.code)));
    return;
  }
  const media = adm.grant.media;
  const isHost = adm.grant.role === 'expert';
  const remote = h('div', { class: 'remote', id: 'remote', role: 'region', 'aria-label': t('call.remote') });
  const people = h('ul', { id: 'people' });
  const quality = h('p', { id: 'quality', role: 'status', 'data-quality': 'unknown' }, t('call.quality.unknown'));
  const status = h('p', { id: 'call-status', role: 'status' });
  const chatLog = h('ol', { id: 'chat-log', 'aria-live': 'polite' });
  const chatText = h('input', { name: 'text', type: 'text', maxlength: 2000, autocomplete: 'off' });
  const chatForm = h('form', { id: 'chat-form' }, field(t('call.chat.label'), chatText), h('button', { type: 'submit' }, t('call.chat.send')));
  // The script's own controls, driven from ours.
  // The script's own leave button and people line, driven from ours: plain
  // objects, since this screen draws its own.
  const theirLeave = { onclick: null, click() { if (this.onclick) this.onclick(); } };
  const theirPeople = { textContent: '' };
  const mute = h('button', { type: 'button', id: 'mute', 'aria-pressed': 'false', onclick: () => toggle(mute, 'audio') }, t('call.mute'));
  const cam = h('button', { type: 'button', id: 'camera-off', 'aria-pressed': 'false', onclick: () => toggle(cam, 'video') }, t('call.cameraoff'));
  const leave = h('button', { type: 'button', id: 'leave', class: 'danger', onclick: () => {
    theirLeave.click();
    stopAll(ctl);
    flash(t('call.left'));
    app.go('/activity');
  } }, t('call.leave'));
  const off = { audio: false, video: false };
  function toggle(btn, kind) {
    const on = btn.getAttribute('aria-pressed') !== 'true';
    btn.setAttribute('aria-pressed', String(on));
    off[kind] = on;
    for (const tr of ctl.stream ? ctl.stream.getTracks() : []) if (tr.kind === kind) tr.enabled = !on;
    announce(t(`call.${kind}.${on ? 'off' : 'on'}`));
  }
  const stage = h('div', { class: 'stage', id: 'stage', 'data-kind': '' },
    status, remote,
    h('div', { class: 'controls', role: 'toolbar', 'aria-label': t('call.controls') },
      media !== 'chat' ? mute : null, media === 'video' ? cam : null, leave),
    quality,
    section(t('call.people'), 2, people),
    section(t('call.chat'), 2, chatLog, chatForm));
  const check = root.querySelector('section');
  if (check) check.remove();
  const jb = root.querySelector('#join');
  if (jb) jb.remove();
  root.append(stage);

  // The script's status line speaks French only; ours says the same thing
  // in the viewer's language.
  const statusWords = [['Connecté', 'call.status.connected'], ['Reconnexion', 'call.status.reconnecting'],
    ['Déconnecté', 'call.status.disconnected'], ['Caméra ou micro', 'call.devices.denied'], ['Vous avez quitté', 'call.left']];
  const theirStatus = {
    set textContent(v) {
      const hit = statusWords.find(([w]) => String(v).startsWith(w));
      status.textContent = hit ? t(hit[1]) : String(v);
    },
    get textContent() { return status.textContent; },
  };
  const byId = { status: theirStatus, videos: remote, people: theirPeople, leave: theirLeave, chatform: chatForm, chattext: chatText, log: chatLog };
  const fakeDoc = {
    getElementById: (id) => byId[id] || remote.querySelector(`#${CSS.escape(id)}`),
    createElement: (tag) => document.createElement(tag),
  };
  const hash = new URLSearchParams({ token: adm.token });
  // TURN with short-lived credentials, for networks that block direct media.
  if (adm.ice_servers && adm.ice_servers.length) hash.set('ice', JSON.stringify(adm.ice_servers));
  if (adm.signaling_url) {
    const u = new URL(adm.signaling_url, location.href);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    hash.set('ws', u.href);
  }
  const fakeLoc = { hash: `#${hash}`, search: '', protocol: location.protocol, host: location.host };
  // The script asks for the devices itself; it gets the ones chosen here.
  const fakeNav = { mediaDevices: { getUserMedia: async (c) => {
    if (!ctl.stream || ctl.stream.getTracks().some((tr) => tr.readyState === 'ended')) {
      ctl.stream = await navigator.mediaDevices.getUserMedia({ audio: ctl.constraints.audio, video: media === 'video' ? ctl.constraints.video : false });
    }
    const tracks = ctl.stream.getTracks().filter((tr) => (tr.kind === 'audio' && c.audio) || (tr.kind === 'video' && c.video));
    for (const tr of tracks) tr.enabled = !off[tr.kind];
    return new MediaStream(tracks);
  } } };
  const scope = {};
  try {
    start(scope, fakeDoc, fakeLoc, fakeNav);
  } catch {
    root.append(h('p', { role: 'alert', class: 'form-error' }, t('call.unavailable')));
    return;
  }
  ctl.session = { leave: () => theirLeave.click() };
  const call = scope.atlasCall;
  // Label every video the script adds, for screen readers.
  new MutationObserver(() => {
    for (const v of remote.querySelectorAll('video:not([aria-label])')) v.setAttribute('aria-label', v.id === 'v-self' ? t('call.you') : t('call.remote.video'));
  }).observe(remote, { childList: true });
  // The script's chat refusals are in French; say them in the viewer's language.
  new MutationObserver(() => {
    for (const li of chatLog.querySelectorAll('li.chat-notice:not([data-t])')) {
      li.dataset.t = '1';
      li.textContent = t(`call.chat.refused.${li.dataset.code}`);
    }
  }).observe(chatLog, { childList: true });
  let present = new Map();
  let joinedOnce = false;
  let refusedShown = false;
  ctl.timers.push(setInterval(async () => {
    if (ctl.stopped || !call) return;
    const st = call.state;
    if (st.joined && !joinedOnce) {
      joinedOnce = true;
      stage.dataset.kind = st.joined.kind;
      announce(t('call.joined'));
    }
    const self = st.joined && st.joined.self;
    const seen = new Map([self, ...Object.values(st.participants)].filter(Boolean).map((p) => [p.user, p]));
    const changed = seen.size !== present.size || [...seen.keys()].some((u) => !present.has(u));
    if (changed) {
      // The expert hears about everyone; participants about the expert.
      if (present.size) {
        for (const [u, p] of seen) if (!present.has(u) && (isHost || p.role === 'host')) announce(t('call.person.joined', { name: p.name }));
        for (const [u, p] of present) if (!seen.has(u) && (isHost || p.role === 'host')) announce(t('call.person.left', { name: p.name }));
      }
      present = seen;
      people.replaceChildren(...[...seen.values()].map((p) => h('li', { 'data-user': p.user }, p.name, ' · ', t(`call.role.${p.role}`),
        self && p.user === self.user ? ` (${t('call.you')})` : '')));
    }
    if (st.closed && st.closed.code >= 4000 && st.closed.code < 4100 && !refusedShown) {
      refusedShown = true;
      root.append(h('p', { role: 'alert', class: 'form-error', 'data-code': st.closed.reason }, refusalText(st.closed.reason)));
    }
    await measure(call, quality);
  }, 1000));
}

// callScript loads /call/call.js once, as a script from this origin (the
// CSP forbids eval), and returns its start function.
let callScriptLoad = null;
function callScript() {
  if (!callScriptLoad) {
    callScriptLoad = new Promise((resolve, reject) => {
      const el = document.createElement('script');
      el.src = '/call/call.js';
      el.dataset.embed = '';
      el.onload = () => (typeof window.atlasCallStart === 'function' ? resolve(window.atlasCallStart) : reject(new Error('no atlasCallStart')));
      el.onerror = () => { callScriptLoad = null; el.remove(); reject(new Error('call script unavailable')); };
      document.head.append(el);
    });
  }
  return callScriptLoad;
}

// measure turns the script's receive statistics into a three-step quality
// indicator: video frames keep coming (good), slow down (fair) or stall
// (poor); audio-only calls judge by audio bytes.
async function measure(call, quality) {
  let st;
  try { st = await call.stats(); } catch { return; }
  const now = performance.now();
  const prev = quality.prev;
  quality.prev = { at: now, frames: st.framesDecoded, bytes: st.audioBytes, sent: st.framesSent };
  if (!prev || (st.videoInbound === 0 && st.audioInbound === 0 && st.layersSent === 0)) return;
  const secs = (now - prev.at) / 1000;
  let level;
  if (st.videoInbound === 0 && st.audioInbound === 0) {
    // An event's expert receives nothing: judge what the camera sends.
    const fps = (st.framesSent - prev.sent) / secs / Math.max(1, st.layersSent);
    level = fps >= 10 ? 'good' : fps >= 3 ? 'fair' : 'poor';
  } else if (st.videoInbound > 0) {
    const fps = (st.framesDecoded - prev.frames) / secs;
    level = fps >= 10 ? 'good' : fps >= 3 ? 'fair' : 'poor';
  } else {
    const kbps = ((st.audioBytes - prev.bytes) * 8) / 1000 / secs;
    level = kbps >= 16 ? 'good' : kbps >= 6 ? 'fair' : 'poor';
  }
  if (quality.dataset.quality !== level) {
    quality.dataset.quality = level;
    quality.textContent = t(`call.quality.${level}`);
  }
}

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
    try {
      ctl.stream = await navigator.mediaDevices.getUserMedia({
        audio: micSel.value ? { deviceId: { exact: micSel.value } } : true,
        video: wantVideo ? (camSel.value ? { deviceId: { exact: camSel.value } } : { width: 1280, height: 720 }) : false,
      });
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

// join connects through the media server's module and draws the call.
async function join(app, root, room, first, ctl) {
  let mod;
  try {
    mod = await import('/call/call.js');
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
  const isHost = adm.grant.role === 'expert';
  const remote = h('div', { class: 'remote', id: 'remote', 'aria-label': t('call.remote') });
  const people = h('ul', { id: 'people', 'aria-live': 'polite' });
  const quality = h('p', { id: 'quality', role: 'status', 'data-quality': 'unknown' }, t('call.quality.unknown'));
  const chatLog = h('ol', { id: 'chat-log', 'aria-live': 'polite' });
  const chatForm = h('form', { id: 'chat-form', onsubmit: (e) => {
    e.preventDefault();
    const v = chatForm.elements.text.value.trim();
    if (!v || !ctl.session) return;
    ctl.session.chat(v);
    chatForm.elements.text.value = '';
  } }, field(t('call.chat.label'), h('input', { name: 'text', type: 'text', maxlength: 2000, autocomplete: 'off' })),
  h('button', { type: 'submit' }, t('call.chat.send')));
  const mute = h('button', { type: 'button', id: 'mute', 'aria-pressed': 'false', onclick: () => toggle(mute, 'audio') }, t('call.mute'));
  const cam = h('button', { type: 'button', id: 'camera-off', 'aria-pressed': 'false', onclick: () => toggle(cam, 'video') }, t('call.cameraoff'));
  const leave = h('button', { type: 'button', id: 'leave', class: 'danger', onclick: () => { stopAll(ctl); flash(t('call.left')); app.go('/activity'); } }, t('call.leave'));
  function toggle(btn, kind) {
    const on = btn.getAttribute('aria-pressed') !== 'true';
    btn.setAttribute('aria-pressed', String(on));
    for (const tr of ctl.stream ? ctl.stream.getTracks() : []) if (tr.kind === kind) tr.enabled = !on;
    announce(t(`call.${kind}.${on ? 'off' : 'on'}`));
  }
  const local = ctl.stream && adm.grant.media === 'video' ? h('video', { id: 'local', autoplay: true, muted: true, playsinline: true, 'aria-label': t('call.you') }) : null;
  if (local) { local.muted = true; local.srcObject = ctl.stream; }
  const stage = h('div', { class: 'stage', id: 'stage', 'data-kind': '' },
    remote, local,
    h('div', { class: 'controls', role: 'toolbar', 'aria-label': t('call.controls') },
      adm.grant.media !== 'chat' ? mute : null, adm.grant.media === 'video' ? cam : null, leave),
    quality,
    section(t('call.people'), 2, people),
    section(t('call.chat'), 2, chatLog, chatForm));
  const check = root.querySelector('section');
  if (check) check.remove();
  const jb = root.querySelector('#join');
  if (jb) jb.remove();
  root.append(stage);
  const present = new Map();
  const drawPeople = () => people.replaceChildren(...[...present.values()].map((p) =>
    h('li', { 'data-user': p.user }, p.name, ' · ', t(`call.role.${p.role}`))));
  try {
    ctl.session = await mod.join({
      url: adm.signaling_url, token: adm.token, room, iceServers: adm.ice_servers, stream: ctl.stream,
      onJoined: (m) => {
        stage.dataset.kind = m.kind;
        for (const p of [m.self, ...(m.participants || [])].filter(Boolean)) present.set(p.user, p);
        drawPeople();
        announce(t('call.joined'));
      },
      onParticipant: (p, joined) => {
        if (joined) present.set(p.user, p); else present.delete(p.user);
        drawPeople();
        if (isHost || p.role === 'host') announce(t(joined ? 'call.person.joined' : 'call.person.left', { name: p.name }));
      },
      onTrack: (track, stream) => addRemote(remote, track, stream),
      onChat: (from, text) => chatLog.append(h('li', {}, h('strong', {}, from ? from.name : ''), ' ', text)),
      onClose: (code) => {
        if (ctl.stopped) return;
        root.append(h('p', { role: 'alert', class: 'form-error', 'data-code': code }, refusalText(code)));
      },
    });
  } catch (err) {
    root.append(h('p', { role: 'alert', class: 'form-error', 'data-code': err.code || '' }, refusalText(err.code || 'internal')));
    return;
  }
  ctl.timers.push(setInterval(() => measure(ctl, quality), 2000));
}

function addRemote(remote, track, stream) {
  const id = `r-${stream.id}`.replace(/[^\w-]/g, '');
  let el = remote.querySelector(`#${id}`);
  if (!el) {
    el = track.kind === 'video' ? h('video', { id, autoplay: true, playsinline: true, class: 'remote-video' }) : h('audio', { id, autoplay: true });
    el.srcObject = stream;
    remote.append(el);
  }
  track.addEventListener('ended', () => { if (stream.getTracks().every((x) => x.readyState === 'ended')) el.remove(); });
}

// measure reads the connection's statistics into a three-step quality
// indicator: round trip time and loss of what we receive.
async function measure(ctl, quality) {
  if (!ctl.session || !ctl.session.stats) return;
  let rtt = 0;
  let lost = 0;
  let got = 0;
  try {
    const reports = await ctl.session.stats();
    for (const st of reports) {
      st.forEach((r) => {
        if (r.type === 'candidate-pair' && r.state === 'succeeded' && r.currentRoundTripTime) rtt = Math.max(rtt, r.currentRoundTripTime);
        if (r.type === 'inbound-rtp') { lost += r.packetsLost || 0; got += r.packetsReceived || 0; }
      });
    }
  } catch { return; }
  const loss = got + lost > 0 ? lost / (got + lost) : 0;
  const level = rtt > 0.4 || loss > 0.08 ? 'poor' : rtt > 0.15 || loss > 0.02 ? 'fair' : 'good';
  if (quality.dataset.quality !== level) {
    quality.dataset.quality = level;
    quality.textContent = t(`call.quality.${level}`);
  }
}

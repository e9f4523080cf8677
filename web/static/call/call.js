// Minimal Atlas11 call page: joins with the token in the URL fragment
// (#token=...; a fragment never reaches server logs), publishes when allowed
// (simulcast VP8 for an event's expert), plays what the server sends.
// Protocol: sfu/signal.go. Exposes window.atlasCall for tests.
// The app's call screen loads this file with data-embed and runs it with its
// own window, document, location and navigator (the CSP allows no eval);
// anywhere else it runs at once on the page.
function atlasCallStart(window, document, location, navigator) {
  'use strict';
  const params = new URLSearchParams(location.hash.slice(1) || location.search.slice(1));
  const token = params.get('token');
  const wsURL = params.get('ws') || ((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/api/v1/rtc');
  // Optional: ice = the token endpoint's ice_servers as JSON (TURN with
  // short-lived credentials); policy=relay uses relay candidates only, as a
  // network that blocks everything else would.
  let iceServers = [];
  try { iceServers = JSON.parse(params.get('ice') || '[]'); } catch (e) { /* a bad list: no ICE servers */ }
  if (!Array.isArray(iceServers)) iceServers = [];
  const icePolicy = params.get('policy') === 'relay' ? 'relay' : 'all';
  const $ = (id) => document.getElementById(id);
  const state = { joined: null, error: null, closed: null, layer: null, participants: {}, publishing: false, chat: [] };
  let ws, pub, sub, session = '', leaving = false, local = null, retries = 0;

  function status(text) { $('status').textContent = text; }
  function send(msg) { if (ws && ws.readyState === 1) ws.send(JSON.stringify(msg)); }

  function videoFor(id, muted) {
    let v = document.getElementById('v-' + id);
    if (!v) {
      v = document.createElement('video');
      v.id = 'v-' + id; v.autoplay = true; v.playsInline = true; v.muted = !!muted;
      $('videos').appendChild(v);
    }
    return v;
  }

  function connect() {
    ws = new WebSocket(wsURL);
    ws.onopen = () => send({ type: 'join', token: token, session: session || undefined });
    ws.onmessage = (ev) => handle(JSON.parse(ev.data));
    ws.onclose = (ev) => {
      state.closed = { code: ev.code, reason: ev.reason };
      if (leaving) return;
      if (ev.code >= 4000 && ev.code < 4100) { status('Refusé : ' + (state.error ? state.error.message : ev.reason)); return; }
      // Lost: come back within the grace period to keep our place.
      const grace = state.joined ? state.joined.graceMs : 0;
      if (retries * 1000 < grace) { retries++; status('Reconnexion…'); setTimeout(connect, 1000); }
      else status('Déconnecté');
    };
  }

  async function handle(m) {
    switch (m.type) {
      case 'joined':
        // After a reconnect the server starts fresh connections.
        if (pub) { pub.close(); pub = null; }
        if (sub) { sub.close(); sub = null; }
        if (local) { local.getTracks().forEach((t) => t.stop()); local = null; }
        $('videos').replaceChildren();
        state.joined = m; session = m.session; retries = 0;
        (m.participants || []).forEach((p) => { state.participants[p.user] = p; });
        renderPeople();
        status('Connecté' + (m.media === 'audio' ? ' (audio)' : m.media === 'chat' ? ' (discussion)' : ''));
        if (m.publish) await publish(m);
        break;
      case 'participant':
        if (m.joined) state.participants[m.participant.user] = m.participant;
        else delete state.participants[m.participant.user];
        renderPeople();
        break;
      case 'offer': await onSubOffer(m.sdp); break;
      case 'answer': if (pub) await pub.setRemoteDescription({ type: 'answer', sdp: m.sdp }); break;
      case 'candidate': {
        const pc = m.pc === 'pub' ? pub : sub;
        if (pc) { try { await pc.addIceCandidate(m.candidate); } catch (e) { /* stale after restart */ } }
        break;
      }
      case 'layer': state.layer = m.layer; break;
      case 'chat': {
        state.chat.push(m);
        const li = document.createElement('li');
        li.textContent = (m.from ? m.from.name : '?') + ' : ' + m.text;
        $('log').appendChild(li);
        break;
      }
      case 'error':
        if (chatNotices[m.code]) { chatNotice(m.code); break; }
        state.error = m; console.warn('atlas11:', m.code, m.message); break;
    }
  }

  // A refused chat message is not an error of the call: a short notice in the
  // chat log, shown once until the next message (a flood would repeat it).
  const chatNotices = {
    chat_rate_limited: 'Trop de messages : patientez un instant.',
    chat_too_long: 'Message trop long (2000 caractères au plus).',
  };
  function chatNotice(code) {
    state.chatRefused = code;
    const last = $('log').lastElementChild;
    if (last && last.dataset.code === code) return;
    const li = document.createElement('li');
    li.className = 'chat-notice';
    li.dataset.code = code;
    li.textContent = chatNotices[code];
    $('log').appendChild(li);
  }

  function renderPeople() {
    $('people').textContent = Object.values(state.participants).map((p) => p.name).join(', ');
  }

  function newPC(name) {
    const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle', iceServers: iceServers, iceTransportPolicy: icePolicy });
    pc.onicecandidate = (e) => { if (e.candidate) send({ type: 'candidate', pc: name, candidate: e.candidate.toJSON() }); };
    pc.oniceconnectionstatechange = async () => {
      if (pc.iceConnectionState !== 'failed') return;
      // Network change: restart ICE (the client offers on pub, the server on sub).
      if (name === 'pub') {
        const o = await pc.createOffer({ iceRestart: true });
        await pc.setLocalDescription(o);
        send({ type: 'offer', pc: 'pub', sdp: o.sdp });
      } else send({ type: 'restart' });
    };
    return pc;
  }

  function preferVP8(tr) {
    if (!tr.setCodecPreferences || !RTCRtpReceiver.getCapabilities) return;
    const caps = RTCRtpReceiver.getCapabilities('video');
    const vp8 = caps.codecs.filter((c) => c.mimeType.toLowerCase() === 'video/vp8');
    if (vp8.length) tr.setCodecPreferences(vp8);
  }

  async function publish(j) {
    const video = j.media === 'video';
    try {
      local = await navigator.mediaDevices.getUserMedia({
        audio: true, video: video ? { width: 960, height: 540, frameRate: 15 } : false,
      });
    } catch (e) { status('Caméra ou micro indisponible : ' + e.message); return; }
    pub = newPC('pub');
    const a = local.getAudioTracks()[0];
    if (a) pub.addTransceiver(a, { direction: 'sendonly', streams: [local] });
    const v = local.getVideoTracks()[0];
    if (v) {
      // An event's expert sends three layers; each participant gets what fits.
      const encodings = j.kind === 'event' ? [
        { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150000 },
        { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500000 },
        { rid: 'f', maxBitrate: 1500000 },
      ] : [{ maxBitrate: 1500000 }];
      const tr = pub.addTransceiver(v, { direction: 'sendonly', streams: [local], sendEncodings: encodings });
      preferVP8(tr);
      const self = videoFor('self', true);
      self.srcObject = new MediaStream([v]);
    }
    const o = await pub.createOffer();
    await pub.setLocalDescription(o);
    send({ type: 'offer', pc: 'pub', sdp: o.sdp });
    state.publishing = true;
  }

  async function onSubOffer(sdp) {
    if (!sub) {
      sub = newPC('sub');
      sub.ontrack = (e) => {
        const stream = e.streams[0] || new MediaStream([e.track]);
        const el = videoFor(stream.id, false);
        if (el.srcObject !== stream) el.srcObject = stream;
        el.play().catch(() => {});
      };
    }
    await sub.setRemoteDescription({ type: 'offer', sdp: sdp });
    const ans = await sub.createAnswer();
    await sub.setLocalDescription(ans);
    send({ type: 'answer', pc: 'sub', sdp: ans.sdp });
  }

  // stats sums what this page receives, for tests and for a quality display.
  async function stats() {
    const out = { framesDecoded: 0, videoInbound: 0, audioInbound: 0, audioBytes: 0, framesSent: 0, layersSent: 0 };
    if (sub) {
      (await sub.getStats()).forEach((r) => {
        if (r.type === 'inbound-rtp' && r.kind === 'video') { out.videoInbound++; out.framesDecoded += r.framesDecoded || 0; }
        if (r.type === 'inbound-rtp' && r.kind === 'audio') { out.audioInbound++; out.audioBytes += r.bytesReceived || 0; }
      });
    }
    if (pub) {
      (await pub.getStats()).forEach((r) => {
        if (r.type === 'outbound-rtp' && r.kind === 'video') { out.layersSent++; out.framesSent += r.framesEncoded || 0; }
      });
    }
    return out;
  }

  $('leave').onclick = () => { leaving = true; send({ type: 'leave' }); if (pub) pub.close(); if (sub) sub.close(); status('Vous avez quitté l’appel'); };
  $('chatform').onsubmit = (e) => {
    e.preventDefault();
    const t = $('chattext').value.trim();
    if (t) send({ type: 'chat', text: t });
    $('chattext').value = '';
  };
  window.atlasCall = { state: state, stats: stats, peers: () => ({ pub: pub, sub: sub }) };
  if (!token) status('Lien d’appel incomplet (jeton manquant)');
  else connect();
}
if (document.currentScript && document.currentScript.dataset.embed !== undefined) window.atlasCallStart = atlasCallStart;
else atlasCallStart(window, document, location, navigator);

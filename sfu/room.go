package sfu

import (
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
)

// member is a participant's place in a room. It outlives a lost connection for
// the grace period so a reconnect keeps presence continuous.
type member struct {
	adm    Admission
	sess   *session // nil while lost
	lostAt time.Time
}

type room struct {
	id    string
	kind  Kind
	media Media
	s     *Server
	stop  chan struct{}

	mu           sync.Mutex
	members      map[string]*member
	sources      []*source
	stopped      bool
	shuttingDown bool
}

func newRoom(s *Server, a Admission) *room {
	return &room{id: a.Room, kind: a.Kind, media: a.Media, s: s, stop: make(chan struct{}), members: map[string]*member{}}
}

// guestLimit is how many guests the room admits.
func (r *room) guestLimit(a Admission) int {
	limit := a.Capacity
	if limit <= 0 || limit > r.s.cfg.MaxParticipants {
		limit = r.s.cfg.MaxParticipants
	}
	if r.kind == KindAppointment {
		limit = 1 // APT-2: one client per appointment
	}
	return limit
}

// canPublish says whether a participant may send media (EVT-7: only the host of
// an event is seen and heard; both sides of an appointment are).
func (r *room) canPublish(a Admission) bool {
	if r.media == MediaChat {
		return false
	}
	return r.kind == KindAppointment || a.Role == RoleHost
}

// receives says whether sess should get src.
func (r *room) receives(sess *session, src *source) bool {
	if sess.adm.User == src.owner || r.media == MediaChat {
		return false
	}
	if r.media == MediaAudio && src.kind != webrtc.RTPCodecTypeAudio {
		return false
	}
	return true
}

// join places sess in the room. A user already there (live or within the grace
// period) is taken over without a presence event.
func (r *room) join(sess *session) (others []Participant, replaced *session, err error) {
	a := sess.adm
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return nil, nil, Refusef(CodeRoomNotOpen, "the room is closing, try again")
	}
	if r.kind != a.Kind || r.media != a.Media {
		r.mu.Unlock()
		return nil, nil, Refusef(CodeWrongRoom, "admission does not match the room")
	}
	m := r.members[a.User]
	fresh := m == nil
	if fresh {
		if a.Role == RoleGuest {
			guests := 0
			for _, x := range r.members {
				if x.adm.Role == RoleGuest {
					guests++
				}
			}
			if guests >= r.guestLimit(a) {
				r.mu.Unlock()
				return nil, nil, Refusef(CodeRoomFull, "the room is full")
			}
		}
		m = &member{adm: a}
		r.members[a.User] = m
		r.s.m.participants.Inc()
	}
	replaced = m.sess
	m.sess, m.adm, m.lostAt = sess, a, time.Time{}
	for _, x := range r.members {
		if x.adm.User != a.User {
			others = append(others, participantOf(x.adm))
		}
	}
	sources := append([]*source(nil), r.sources...)
	r.mu.Unlock()

	if fresh {
		r.s.presence(r, a, true, r.s.deps.Now())
		r.broadcast(ServerMessage{Type: TypeParticipant, Participant: ptr(participantOf(a)), Joined: true}, a.User)
	}
	for _, src := range sources {
		if r.receives(sess, src) {
			sess.addDown(src)
		}
	}
	return others, replaced, nil
}

// detach handles the end of a session. An explicit leave (or a shutdown) ends
// presence now; a lost connection starts the grace period.
func (r *room) detach(sess *session, leave bool) {
	now := r.s.deps.Now()
	r.mu.Lock()
	m := r.members[sess.adm.User]
	if m == nil || m.sess != sess {
		r.mu.Unlock()
		return // replaced by a newer session
	}
	if !leave && !r.shuttingDown {
		m.sess, m.lostAt = nil, now
		r.mu.Unlock()
		return
	}
	delete(r.members, sess.adm.User)
	empty := len(r.members) == 0
	r.mu.Unlock()
	r.removeMember(m.adm, now, empty)
}

func (r *room) removeMember(a Admission, at time.Time, empty bool) {
	r.s.m.participants.Dec()
	r.s.presence(r, a, false, at)
	r.broadcast(ServerMessage{Type: TypeParticipant, Participant: ptr(participantOf(a)), Joined: false}, a.User)
	if empty {
		r.close()
	}
}

func (r *room) close() {
	r.mu.Lock()
	if r.stopped || len(r.members) > 0 {
		r.mu.Unlock()
		return
	}
	r.stopped = true
	r.mu.Unlock()
	close(r.stop)
	r.s.dropRoom(r)
}

// sweep ends the presence of members lost for longer than the grace period. The
// leave is recorded at the moment the connection was lost.
func (r *room) sweep() {
	now := r.s.deps.Now()
	var gone []*member
	r.mu.Lock()
	for user, m := range r.members {
		if m.sess == nil && now.Sub(m.lostAt) >= r.s.cfg.ReconnectGrace {
			delete(r.members, user)
			gone = append(gone, m)
		}
	}
	empty := len(r.members) == 0
	r.mu.Unlock()
	for i, m := range gone {
		r.removeMember(m.adm, m.lostAt, empty && i == len(gone)-1)
	}
}

// shutdown ends every session (server Close): presence ends now.
func (r *room) shutdown() {
	r.mu.Lock()
	r.shuttingDown = true
	var live []*session
	var lost []*member
	for user, m := range r.members {
		if m.sess != nil {
			live = append(live, m.sess)
		} else {
			delete(r.members, user)
			lost = append(lost, m)
		}
	}
	r.mu.Unlock()
	for _, m := range lost {
		r.removeMember(m.adm, m.lostAt, false)
	}
	for _, sess := range live {
		sess.fail(Refusef(CodeShuttingDown, "the media server is shutting down"))
	}
	r.close()
}

func (r *room) isShuttingDown() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.shuttingDown
}

func (r *room) addSource(src *source) {
	r.mu.Lock()
	r.sources = append(r.sources, src)
	var subs []*session
	for _, m := range r.members {
		if m.sess != nil && r.receives(m.sess, src) {
			subs = append(subs, m.sess)
		}
	}
	r.mu.Unlock()
	r.s.m.tracks.Inc()
	for _, sess := range subs {
		sess.addDown(src)
	}
}

func (r *room) removeSource(src *source) {
	r.mu.Lock()
	found := false
	for i, x := range r.sources {
		if x == src {
			r.sources = append(r.sources[:i], r.sources[i+1:]...)
			found = true
			break
		}
	}
	var subs []*session
	for _, m := range r.members {
		if m.sess != nil {
			subs = append(subs, m.sess)
		}
	}
	r.mu.Unlock()
	if !found {
		return
	}
	r.s.m.tracks.Dec()
	for _, sess := range subs {
		sess.removeDown(src)
	}
}

func (r *room) broadcast(msg ServerMessage, except string) {
	for _, sess := range r.live(except) {
		sess.send(msg)
	}
}

// broadcastChat sends a chat message to everyone, best effort (sendChat).
func (r *room) broadcastChat(msg ServerMessage) {
	for _, sess := range r.live("") {
		sess.sendChat(msg)
	}
}

// live returns the connected members' sessions, except user's.
func (r *room) live(except string) []*session {
	r.mu.Lock()
	defer r.mu.Unlock()
	var to []*session
	for _, m := range r.members {
		if m.sess != nil && m.adm.User != except {
			to = append(to, m.sess)
		}
	}
	return to
}

// run is the room's ticker: layer rates, layer selection, grace sweep.
func (r *room) run() {
	t := time.NewTicker(r.s.cfg.SelectInterval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		now := time.Now().UnixNano()
		r.mu.Lock()
		sources := append([]*source(nil), r.sources...)
		var sessions []*session
		for _, m := range r.members {
			if m.sess != nil {
				sessions = append(sessions, m.sess)
			}
		}
		r.mu.Unlock()
		for _, src := range sources {
			src.updateRates(now)
		}
		wall := time.Unix(0, now)
		for _, sess := range sessions {
			sess.selectLayers(now)
			sess.sendReports(wall)
		}
		r.sweep()
	}
}

func participantOf(a Admission) Participant {
	return Participant{User: a.User, Name: a.Name, Role: a.Role}
}

func ptr[T any](v T) *T { return &v }

package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"atlas11/control"
	"atlas11/sfu"
)

// admitter lets the media server check call tokens against the control
// plane (CALL-1) without importing it.
type admitter struct{ svc *control.Service }

// refusalCodes maps the control plane's codes onto the signaling's; codes
// not listed keep their own name, which the signaling passes on.
var refusalCodes = map[string]string{
	"token_invalid":      sfu.CodeTokenInvalid,
	"token_expired":      sfu.CodeTokenExpired,
	"room_not_open":      sfu.CodeRoomNotOpen,
	"event_not_open":     sfu.CodeRoomNotOpen,
	"account_closed":     sfu.CodeAccountClosed,
	"not_a_participant":  sfu.CodeNotAllowed,
	"booking_not_active": sfu.CodeNotAllowed,
	"room_not_found":     sfu.CodeWrongRoom,
}

func (a admitter) Admit(ctx context.Context, token string) (sfu.Admission, error) {
	g, err := a.svc.AdmitCall(ctx, token)
	if err != nil {
		code := control.ErrorCode(err)
		if c, ok := refusalCodes[code]; ok {
			code = c
		} else if control.ErrorKind(err) == control.Internal {
			code = sfu.CodeInternal
		} else {
			code = sfu.CodeNotAllowed
		}
		return sfu.Admission{}, sfu.Refusef(code, "%s", control.ErrorMessage(err))
	}
	adm := sfu.Admission{
		Room: g.Room, User: g.UserID, Name: g.Name,
		Role:     sfu.RoleGuest,
		Kind:     sfu.KindAppointment,
		Media:    sfu.Media(g.Media),
		Capacity: g.Capacity - 1, // the grant counts the expert, the SFU counts guests
		Expires:  g.ExpiresAt,
	}
	if g.Role == "expert" {
		adm.Role = sfu.RoleHost
	}
	if g.Kind == control.KindRegistration {
		adm.Kind = sfu.KindEvent
	}
	return adm, nil
}

// presenceRecorder hands the media server's joins and leaves to the control
// plane (CALL-3). The SFU wants a quick return, and a store write waits for
// an fsync, so events go through an ordered queue drained by one goroutine.
type presenceRecorder struct {
	svc  *control.Service
	log  *slog.Logger
	q    chan control.PresenceEvent
	done chan struct{}
	once sync.Once
}

func newPresenceRecorder(svc *control.Service, log *slog.Logger) *presenceRecorder {
	r := &presenceRecorder{svc: svc, log: log, q: make(chan control.PresenceEvent, 4096), done: make(chan struct{})}
	go r.loop()
	return r
}

func (r *presenceRecorder) Presence(ev sfu.PresenceEvent) {
	// Presence decides who pays (EVT-6, APT-7): block rather than drop if the
	// queue is ever full.
	r.q <- control.PresenceEvent{Room: ev.Room, User: ev.User, Joined: ev.Joined, At: ev.At}
}

func (r *presenceRecorder) loop() {
	defer close(r.done)
	for ev := range r.q {
		var err error
		for attempt := 0; attempt < 3; attempt++ {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err = r.svc.RecordPresence(ctx, ev)
			cancel()
			if err == nil || control.ErrorKind(err) != control.Internal {
				break
			}
		}
		if err != nil {
			r.log.Error("presence not recorded", "room", ev.Room, "user", ev.User, "joined", ev.Joined, "err", err)
		}
	}
}

// Close drains the queue; call it after the SFU has stopped.
func (r *presenceRecorder) Close() error {
	r.once.Do(func() { close(r.q) })
	<-r.done
	return nil
}

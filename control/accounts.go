package control

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/mail"
	"regexp"
	"strings"
	"time"
)

const runtimeSettingsKey = "runtime_settings"

func (s *Service) loadRuntimeSettings() error {
	var r RuntimeSettings
	var ok bool
	err := s.view(func(tx Tx) error {
		var err error
		ok, err = getJSON(tx, bMeta, runtimeSettingsKey, &r)
		return err
	})
	if err != nil || !ok {
		return internalOrNil(err)
	}
	st, err := r.apply(s.settings)
	if err != nil {
		// A stored override no longer fits the configuration (e.g. the
		// media server maximum was lowered): keep the configured values.
		s.log.Warn("ignoring stored runtime settings", "err", err)
		return nil
	}
	s.settings = st
	return nil
}

// UpdateRuntimeSettings lets an operator change the event cap and minimum
// prices at run time; the change is persisted and applies to new bookings
// only (existing bookings keep their Policy copy).
func (s *Service) UpdateRuntimeSettings(ctx context.Context, operatorID string, r RuntimeSettings) (Settings, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := r.apply(s.settings)
	if err != nil {
		return Settings{}, err
	}
	err = s.update(func(tx Tx) error {
		if _, err := actor(tx, operatorID, RoleOperator); err != nil {
			return err
		}
		var stored RuntimeSettings
		if _, err := getJSON(tx, bMeta, runtimeSettingsKey, &stored); err != nil {
			return err
		}
		if r.EventCap != nil {
			stored.EventCap = r.EventCap
		}
		if r.MinPrices != nil {
			stored.MinPrices = r.MinPrices
		}
		return putJSON(tx, bMeta, runtimeSettingsKey, stored)
	})
	if err != nil {
		return Settings{}, err
	}
	s.settings = st
	return st, nil
}

func normalizeEmail(e string) (string, error) {
	e = strings.ToLower(strings.TrimSpace(e))
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || len(e) > 254 {
		return "", fieldErr("email", "invalid_email", "not a valid email address")
	}
	return e, nil
}

func validTimeZone(tz string) bool {
	if tz == "" || tz == "Local" {
		return false
	}
	_, err := time.LoadLocation(tz)
	return err == nil
}

func (s *Service) createUser(in NewUser, role Role) (User, error) {
	email, err := normalizeEmail(in.Email)
	if err != nil {
		return User{}, err
	}
	name := strings.TrimSpace(in.Name)
	if name == "" {
		return User{}, fieldErr("name", "invalid_name", "a name of 1 to %d characters is required", MaxNameLen)
	}
	if err := checkText("name", name, MaxNameLen, false); err != nil {
		return User{}, err
	}
	if in.PasswordHash == "" {
		return User{}, fieldErr("password", "password_required", "a password is required")
	}
	if in.Locale == "" {
		in.Locale = "fr" // LANG-1
	}
	if in.Locale != "fr" && in.Locale != "en" {
		return User{}, fieldErr("locale", "invalid_locale", "locale must be fr or en")
	}
	if in.TimeZone == "" {
		in.TimeZone = s.Settings().PlatformTimeZone
	}
	if !validTimeZone(in.TimeZone) {
		return User{}, fieldErr("time_zone", "invalid_time_zone", "unknown IANA time zone %q", in.TimeZone)
	}
	now := s.clock.Now()
	u := User{ID: newID(), Email: email, Name: name, Role: role, PasswordHash: in.PasswordHash,
		Locale: in.Locale, TimeZone: in.TimeZone, CreatedAt: now}
	shortSlug := slugify(name) + "-" + u.ID[len(u.ID)-6:] // the random end of the ID
	err = s.update(func(tx Tx) error {
		if tx.Get(bEmails, []byte(email)) != nil {
			return &Error{Kind: Conflict, Code: "email_taken", Message: "an account already uses this email", Field: "email"}
		}
		if err := putJSON(tx, bUsers, u.ID, u); err != nil {
			return err
		}
		if err := tx.Put(bEmails, []byte(email), []byte(u.ID)); err != nil {
			return err
		}
		if err := queueVerification(tx, now, u, email, NoticeEmailVerify); err != nil {
			return err
		}
		if role != RoleExpert {
			return nil
		}
		slug := shortSlug
		if tx.Get(bSlugs, []byte(slug)) != nil {
			slug = slugify(name) + "-" + u.ID
		}
		p := ExpertProfile{ExpertID: u.ID, Name: name, TimeZone: u.TimeZone, Slug: slug, Languages: []string{u.Locale}}
		if err := putJSON(tx, bProfiles, u.ID, p); err != nil {
			return err
		}
		return tx.Put(bSlugs, []byte(slug), []byte(u.ID))
	})
	return u, err
}

var slugRe = regexp.MustCompile(`[^a-z0-9]+`)

func slugify(s string) string {
	s = strings.Trim(slugRe.ReplaceAllString(strings.ToLower(s), "-"), "-")
	if len(s) > 40 {
		s = s[:40]
	}
	if s == "" {
		s = "expert"
	}
	return s
}

// CreateUser signs up a client or an expert (ACC-1: becoming an expert is
// free, nothing to pay). The email is normalized and must be unique
// (Conflict email_taken). An expert gets a profile with a public slug.
func (s *Service) CreateUser(ctx context.Context, in NewUser) (User, error) {
	if in.Role != RoleClient && in.Role != RoleExpert {
		return User{}, fieldErr("role", "invalid_role", "role must be client or expert")
	}
	return s.createUser(in, in.Role)
}

// CreateOperator creates an operator account (CLI only: atlas11 operator create).
func (s *Service) CreateOperator(ctx context.Context, in NewUser) (User, error) {
	return s.createUser(in, RoleOperator)
}

// User returns a user by ID (NotFound user_not_found).
func (s *Service) User(ctx context.Context, id string) (User, error) {
	var u User
	err := s.view(func(tx Tx) error {
		var err error
		u, err = loadUser(tx, id)
		return err
	})
	return u, err
}

// UserByEmail returns a user by email, for sign-in (NotFound user_not_found).
func (s *Service) UserByEmail(ctx context.Context, email string) (User, error) {
	var u User
	e, err := normalizeEmail(email)
	if err != nil {
		return u, Errorf(NotFound, "user_not_found", "no such user")
	}
	err = s.view(func(tx Tx) error {
		id := tx.Get(bEmails, []byte(e))
		var err error
		u, err = loadUser(tx, string(id))
		return err
	})
	return u, err
}

func sessionKey(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return []byte(hex.EncodeToString(h[:]))
}

// CreateSession starts a session for a user that is not closed; the token is
// returned once and only its hash is stored.
func (s *Service) CreateSession(ctx context.Context, userID string) (Session, error) {
	var raw [32]byte
	_, _ = rand.Read(raw[:])
	sess := Session{Token: base64.RawURLEncoding.EncodeToString(raw[:]), UserID: userID,
		ExpiresAt: s.clock.Now().Add(s.Settings().SessionTTL)}
	err := s.update(func(tx Tx) error {
		if _, err := actor(tx, userID); err != nil {
			return err
		}
		stored := sess
		stored.Token = ""
		key := string(sessionKey(sess.Token))
		if err := putJSON(tx, bSessions, key, stored); err != nil {
			return err
		}
		return addDue(tx, sess.ExpiresAt, dueSession, key) // RunDue deletes it then
	})
	return sess, err
}

// SessionUser resolves a session token to its user (Unauthorized
// session_invalid when unknown or expired, Forbidden account_closed).
func (s *Service) SessionUser(ctx context.Context, token string) (User, error) {
	now := s.clock.Now()
	if token == "" {
		return User{}, errSessionInvalid()
	}
	key := string(sessionKey(token))
	hit, ok, gen := s.sessions.get(key)
	if ok && now.Before(hit.expiresAt) {
		return hit.user, nil
	}
	var u User
	var sess Session
	err := s.view(func(tx Tx) error {
		ok, err := getJSON(tx, bSessions, key, &sess)
		if err != nil {
			return err
		}
		if !ok || !now.Before(sess.ExpiresAt) {
			return errSessionInvalid()
		}
		u, err = actor(tx, sess.UserID)
		return err
	})
	if err == nil {
		s.sessions.put(key, gen, cachedSession{user: u, expiresAt: sess.ExpiresAt})
	}
	return u, err
}

func errSessionInvalid() error {
	return Errorf(Unauthorized, "session_invalid", "your session has expired, sign in again")
}

// DeleteSession signs out; deleting an unknown token is not an error.
func (s *Service) DeleteSession(ctx context.Context, token string) error {
	key := sessionKey(token)
	err := s.update(func(tx Tx) error { return tx.Delete(bSessions, key) })
	s.sessions.drop(string(key)) // after the commit, so no read can re-add it
	return err
}

// UpdateProfile lets an expert edit their own profile (ACC-2).
func (s *Service) UpdateProfile(ctx context.Context, actorID string, up ProfileUpdate) (ExpertProfile, error) {
	var out ExpertProfile
	if up.TimeZone != nil && !validTimeZone(*up.TimeZone) {
		return out, fieldErr("time_zone", "invalid_time_zone", "unknown IANA time zone %q", *up.TimeZone)
	}
	if up.Slug != nil && (slugify(*up.Slug) != *up.Slug || len(*up.Slug) < 3) {
		return out, fieldErr("slug", "invalid_slug", "a slug has 3 to 40 lower-case letters, digits and dashes")
	}
	if up.Headline != nil {
		if err := checkText("headline", *up.Headline, MaxHeadlineLen, false); err != nil {
			return out, err
		}
	}
	if up.Bio != nil {
		if err := checkText("bio", *up.Bio, MaxBioLen, true); err != nil {
			return out, err
		}
	}
	if up.Languages != nil {
		langs, err := NormalizeLanguages(up.Languages)
		if err != nil {
			return out, err
		}
		up.Languages = langs
	}
	if up.Billing != nil {
		b, err := checkBilling(*up.Billing)
		if err != nil {
			return out, err
		}
		up.Billing = &b
	}
	err := s.update(func(tx Tx) error {
		u, err := actor(tx, actorID, RoleExpert)
		if err != nil {
			return err
		}
		p, err := loadProfile(tx, u.ID)
		if err != nil {
			return err
		}
		oldSlug := p.Slug
		if up.Slug != nil && *up.Slug != oldSlug {
			if tx.Get(bSlugs, []byte(*up.Slug)) != nil {
				return &Error{Kind: Conflict, Code: "slug_taken", Message: "this link is already taken", Field: "slug"}
			}
			p.Slug = *up.Slug
		}
		if up.Headline != nil {
			p.Headline = *up.Headline
		}
		if up.Bio != nil {
			p.Bio = *up.Bio
		}
		if up.Languages != nil {
			p.Languages = up.Languages
		}
		if up.TimeZone != nil {
			p.TimeZone = *up.TimeZone
		}
		if up.Billing != nil {
			p.Billing = up.Billing
		}
		if p.Slug != oldSlug {
			if err := tx.Delete(bSlugs, []byte(oldSlug)); err != nil {
				return err
			}
			if err := tx.Put(bSlugs, []byte(p.Slug), []byte(u.ID)); err != nil {
				return err
			}
		}
		out = p
		return putJSON(tx, bProfiles, u.ID, p)
	})
	return out, err
}

// Profile returns an expert's full profile: to the expert and operators only.
func (s *Service) Profile(ctx context.Context, actorID, expertID string) (ExpertProfile, error) {
	var p ExpertProfile
	err := s.view(func(tx Tx) error {
		u, err := actor(tx, actorID)
		if err != nil {
			return err
		}
		if u.Role != RoleOperator && u.ID != expertID {
			return Errorf(Forbidden, "not_yours", "this is another expert's private profile")
		}
		p, err = loadProfile(tx, expertID)
		return err
	})
	return p, err
}

// PublicProfile returns the shareable page of an expert by slug or ID (ACC-2)
// with bookable slots and upcoming events in [now, now+horizon).
func (s *Service) PublicProfile(ctx context.Context, slugOrID string, horizon time.Duration) (PublicProfile, error) {
	var p ExpertProfile
	err := s.view(func(tx Tx) error {
		id := string(tx.Get(bSlugs, []byte(slugOrID)))
		if id == "" {
			id = slugOrID
		}
		var err error
		p, err = loadProfile(tx, id)
		if err == nil && p.Closed {
			return Errorf(NotFound, "expert_not_found", "no such expert")
		}
		return err
	})
	if err != nil {
		return PublicProfile{}, err
	}
	now := s.clock.Now()
	horizon = min(max(horizon, 24*time.Hour), maxSlotSpan)
	slots, err := s.ListSlots(ctx, p.ExpertID, now, now.Add(horizon))
	if err != nil {
		return PublicProfile{}, err
	}
	events, err := s.Events(ctx, p.ExpertID, now, now.Add(horizon))
	if err != nil {
		return PublicProfile{}, err
	}
	open := events[:0]
	for _, e := range events {
		if e.Status == EventScheduled {
			open = append(open, e)
		}
	}
	return PublicProfile{ExpertID: p.ExpertID, Name: p.Name, Headline: p.Headline, Bio: p.Bio,
		Languages: p.Languages, TimeZone: p.TimeZone, Slug: p.Slug, Slots: slots, Events: open}, nil
}

// SetExpertEventCap lets an operator raise (or lower) one expert's event cap,
// never above Settings.MediaServerMax (EVT-2). 0 restores the default.
func (s *Service) SetExpertEventCap(ctx context.Context, operatorID, expertID string, eventCap int) error {
	st := s.Settings()
	if eventCap < 0 || eventCap > st.MediaServerMax {
		return &Error{Kind: Rule, Code: "cap_over_media_max", Field: "event_cap",
			Message: "the event cap must be between 1 and the media server maximum"}
	}
	return s.update(func(tx Tx) error {
		if _, err := actor(tx, operatorID, RoleOperator); err != nil {
			return err
		}
		p, err := loadProfile(tx, expertID)
		if err != nil {
			return err
		}
		p.EventCap = eventCap
		return putJSON(tx, bProfiles, expertID, p)
	})
}

// eventCap is the effective cap for an expert (EVT-2).
func eventCap(st Settings, p ExpertProfile) int {
	c := st.EventCap
	if p.EventCap > 0 {
		c = p.EventCap
	}
	return min(c, st.MediaServerMax)
}

// CloseAccount lets an operator close an account (ACC-3, CLM-6). For an
// expert, future appointments and events are cancelled and fully refunded;
// earned money stays payable.
func (s *Service) CloseAccount(ctx context.Context, operatorID, userID string) error {
	now := s.clock.Now()
	var fx effects
	err := s.update(func(tx Tx) error {
		fx = effects{}
		if _, err := actor(tx, operatorID, RoleOperator); err != nil {
			return err
		}
		u, err := loadUser(tx, userID)
		if err != nil {
			return err
		}
		if u.Closed {
			return nil
		}
		u.Closed, u.ClosedAt = true, now
		if err := putJSON(tx, bUsers, u.ID, u); err != nil {
			return err
		}
		if err := tx.Put(bMeta, []byte(closedKey(u.ID)), nil); err != nil {
			return err
		}
		if u.Role != RoleExpert {
			return nil
		}
		p, err := loadProfile(tx, u.ID)
		if err != nil {
			return err
		}
		p.Closed = true
		if err := putJSON(tx, bProfiles, u.ID, p); err != nil {
			return err
		}
		// Collect first, then write: the scan must not see its own writes.
		var bookings, events []string
		err = tx.Scan(bSched, []byte(u.ID+"/"+ts(now)), prefixEnd(u.ID+"/"), func(k, _ []byte) error {
			id := string(k[len(u.ID)+1+8+1:])
			if tx.Get(bEvents, []byte(id)) != nil {
				events = append(events, id)
			} else {
				bookings = append(bookings, id)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, id := range bookings {
			b, err := loadBooking(tx, id)
			if err != nil {
				return err
			}
			if err := cancelRefund(tx, now, &fx, &b, RoleOperator, "expert_account_closed"); err != nil {
				return err
			}
		}
		for _, id := range events {
			e, err := loadEvent(tx, id)
			if err != nil {
				return err
			}
			if err := cancelEventTx(tx, now, &fx, &e, "expert_account_closed"); err != nil {
				return err
			}
		}
		return nil
	})
	s.sessions.dropUser(userID) // after the commit: a closed user's sessions fail from now on
	if err == nil {
		s.flushOutbox(ctx, fx.outbox)
	}
	return err
}

func closedKey(userID string) string { return "closed/" + userID }

// expertClosed is the cheap check of the booking path: one key lookup, no
// decoding (ACC-3).
func expertClosed(tx Tx, userID string) bool {
	return tx.Get(bMeta, []byte(closedKey(userID))) != nil
}

// Flags lists experts flagged for too many escalations (CLM-6), operators only.
func (s *Service) Flags(ctx context.Context, operatorID string) ([]Flag, error) {
	st := s.Settings()
	now := s.clock.Now()
	var out []Flag
	err := s.view(func(tx Tx) error {
		if _, err := actor(tx, operatorID, RoleOperator); err != nil {
			return err
		}
		return tx.Scan(bProfiles, nil, nil, func(k, v []byte) error {
			var p ExpertProfile
			if ok, err := getJSON(tx, bProfiles, string(k), &p); err != nil || !ok || !p.Flagged {
				return err
			}
			n := countEscalations(tx, p.ExpertID, now.Add(-st.EscalationWindow))
			out = append(out, Flag{ExpertID: p.ExpertID, Name: p.Name, Escalations: n,
				Since: now.Add(-st.EscalationWindow), Closed: p.Closed})
			return nil
		})
	})
	return out, err
}

func countEscalations(tx Tx, expertID string, since time.Time) int {
	n := 0
	_ = tx.Scan(bEscal, []byte(expertID+"/"+ts(since)), prefixEnd(expertID+"/"), func(_, _ []byte) error {
		n++
		return nil
	})
	return n
}

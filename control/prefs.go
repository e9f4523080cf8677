package control

import "context"

// Preferences are what a user chooses about the messages they get: the
// language and zone of e-mails (LANG-1, TIME-1) and whether to receive the
// non-essential ones (reminders). Messages about money, claims and the
// account always go.
type Preferences struct {
	Locale    *string `json:"locale,omitempty" max:"5"`
	TimeZone  *string `json:"time_zone,omitempty" max:"64"`
	Reminders *bool   `json:"reminders,omitempty"`
}

// UpdatePreferences changes the caller's preferences.
func (s *Service) UpdatePreferences(ctx context.Context, userID string, p Preferences) (User, error) {
	if p.Locale != nil && *p.Locale != "fr" && *p.Locale != "en" {
		return User{}, fieldErr("locale", "invalid_locale", "locale must be fr or en")
	}
	if p.TimeZone != nil && !validTimeZone(*p.TimeZone) {
		return User{}, fieldErr("time_zone", "invalid_time_zone", "unknown IANA time zone %q", *p.TimeZone)
	}
	var u User
	err := s.update(func(tx Tx) error {
		var err error
		if u, err = actor(tx, userID); err != nil {
			return err
		}
		if p.Locale != nil {
			u.Locale = *p.Locale
		}
		if p.TimeZone != nil {
			u.TimeZone = *p.TimeZone
		}
		if p.Reminders != nil {
			u.NoReminders = !*p.Reminders
		}
		return putJSON(tx, bUsers, u.ID, u)
	})
	if err == nil {
		s.sessions.dropUser(userID) // after the commit: cached sessions carry the old user
	}
	return u, err
}

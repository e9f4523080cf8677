package control

import (
	"encoding/json"
	"testing"
	"time"
)

// BenchmarkUserDecode compares decoding a user record on every write with
// the memo's lookup by content.
func BenchmarkUserDecode(b *testing.B) {
	raw, _ := json.Marshal(User{ID: newID(), Email: "bob@example.test", Name: "Bob Martin", Role: RoleClient,
		PasswordHash: "$argon2id$v=19$m=65536,t=1,p=2$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA",
		Locale:       "fr", TimeZone: "Europe/Paris", CreatedAt: time.Now().UTC()})
	b.Run("json", func(b *testing.B) {
		for b.Loop() {
			var u User
			if err := json.Unmarshal(raw, &u); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("memo", func(b *testing.B) {
		m := newUserMemo()
		for b.Loop() {
			if _, err := m.decode(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}

package api

import (
	"net/http"
	"testing"
	"time"

	"atlas11/control"
)

// PAY-3, EVT-2: the screens read the minimums and the cap the server really
// enforces, including an operator's change, without signing in.
func TestSettings_PAY3_EVT2_PublicSettingsFollowOperatorChanges(t *testing.T) {
	e := newEnv(t)
	var before control.Settings
	e.anon().get("/settings").want(http.StatusOK).decode(&before)
	if before.MinPrices.Video != control.DefaultSettings().MinPrices.Video || before.EventCap != 49 {
		t.Fatalf("public settings %+v", before)
	}
	op := e.operator()
	op.do("PATCH", "/operator/settings", map[string]any{"min_prices": map[string]any{"video": 2500, "audio": 800, "chat": 500, "event": 500}}).want(http.StatusOK)
	var after control.Settings
	e.anon().get("/settings").want(http.StatusOK).decode(&after)
	if after.MinPrices.Video != 2500 {
		t.Fatalf("public settings did not follow the operator: %+v", after.MinPrices)
	}
}

// APT-6, CLM-2: deadlines are judged on the platform's clock, which the
// simulation clock sets apart from the browser's; /me tells the screens.
func TestMe_APT6_CarriesThePlatformsNow(t *testing.T) {
	e := newEnv(t)
	u := e.signUp(control.RoleClient)
	e.clock.Advance(50 * time.Hour)
	var me struct {
		Now time.Time `json:"now"`
	}
	u.get("/me").want(http.StatusOK).decode(&me)
	if !me.Now.Equal(e.clock.Now()) {
		t.Fatalf("/me now = %v, platform now = %v", me.Now, e.clock.Now())
	}
}

package api

import (
	"net/http"
	"testing"
)

// Each rule of the password policy, driven through the real sign-up handler:
// the weak password is refused with 400 weak_password on "password" and no
// account is created (the same e-mail then signs up with a good password).
func TestAuth_SignUpRefusesCommonAndPersonalPasswords(t *testing.T) {
	e := newEnv(t)
	cases := []struct{ rule, email, name, password string }{
		{"common password", "c1@atlas11.test", "Zoé Martin", "1234567890"},
		{"common password, case and spaces ignored", "c2@atlas11.test", "Zoé Martin", "  PassWord123 "},
		{"common password deep in the list", "c3@atlas11.test", "Zoé Martin", "whatthehell"},
		{"contains the e-mail", "zz@atlas11.test", "Q", "xZZ@Atlas11.TESTx"},
		{"contains the e-mail's local part", "marguerite@atlas11.test", "Q", "my MARGUERITE pw 7"},
		{"contains a part of the name", "c4@atlas11.test", "Jean-Baptiste Lemoine", "horse lemoine 42!"},
	}
	for _, c := range cases {
		t.Run(c.rule, func(t *testing.T) {
			e.anon().post("/auth/signup", map[string]any{"email": c.email, "password": c.password,
				"name": c.name, "role": "client"}).wantErr(http.StatusBadRequest, "weak_password", "password")
			e.anon().post("/auth/signup", map[string]any{"email": c.email, "password": "violet tram 93 quay",
				"name": c.name, "role": "client"}).want(http.StatusCreated)
		})
	}
	// Short name parts and local parts are not held against the password:
	// "Li" and "jo" appear in many good passphrases.
	e.anon().post("/auth/signup", map[string]any{"email": "jo@atlas11.test", "password": "jolly lion 93 quay",
		"name": "Li Jo", "role": "client"}).want(http.StatusCreated)
}

func TestCommonPasswords_ListIsLargeAndOrdered(t *testing.T) {
	set := commonPasswords()
	if len(set) < 10000 {
		t.Fatalf("only %d common passwords embedded", len(set))
	}
	for _, p := range []string{"123456", "password", "qwerty", "iloveyou"} {
		if _, ok := set[p]; !ok {
			t.Fatalf("%q missing from the list", p)
		}
	}
}

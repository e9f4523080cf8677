package api

import (
	_ "embed"
	"strings"
	"sync"

	"atlas11/control"
)

// commonPasswordsText is the 30,000 most common passwords, most frequent
// first, one per line, lower-case. Source: the "passwords" frequency list of
// the npm package zxcvbn 4.4.2 (lib/frequency_lists.js), MIT licence,
// Copyright (c) 2012-2016 Dan Wheeler and Dropbox, Inc.
//
//go:embed commonpasswords.txt
var commonPasswordsText string

// commonPasswords is built on first use: the set is immutable, so sharing it
// between servers is safe.
var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{}, 30000)
	for line := range strings.Lines(commonPasswordsText) {
		if w := strings.TrimSpace(line); w != "" {
			set[w] = struct{}{}
		}
	}
	return set
})

// minPersonalPart is the shortest e-mail local part or name part that a
// password may not contain: shorter ones ("jo", "li") would refuse too many
// good passwords by accident.
const minPersonalPart = 4

// checkNewPassword holds every rule a new password must pass (sign-up,
// operator creation): the length bounds, not one of the common passwords,
// and not containing the account's e-mail, its local part or a part of its
// name. All comparisons ignore case and surrounding spaces.
func checkNewPassword(password, email, name string) error {
	if err := checkPassword(password); err != nil {
		return err
	}
	p := strings.ToLower(strings.TrimSpace(password))
	if _, common := commonPasswords()[p]; common {
		return apiErr(control.Invalid, "weak_password", "password", "this password is among the most common ones: choose another")
	}
	email = strings.ToLower(strings.TrimSpace(email))
	parts := []string{email}
	if at := strings.IndexByte(email, '@'); at > 0 {
		parts = append(parts, email[:at])
	}
	parts = append(parts, strings.FieldsFunc(strings.ToLower(name), func(r rune) bool {
		return r == ' ' || r == '-' || r == '.' || r == '\'' || r == '_' || r == ','
	})...)
	for _, part := range parts {
		if len([]rune(part)) >= minPersonalPart && strings.Contains(p, part) {
			return apiErr(control.Invalid, "weak_password", "password", "the password must not contain your e-mail address or your name")
		}
	}
	return nil
}

// CheckNewPassword applies sign-up's password rules; the operator CLI uses
// it so that no operator gets a password the API would refuse.
func CheckNewPassword(password, email, name string) error {
	return checkNewPassword(password, email, name)
}

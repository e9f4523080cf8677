package main

import (
	"atlas11/control/api"
)

// hashPassword is the API's hasher, so the CLI and sign-up store one format.
func hashPassword(password string) (string, error) { return api.HashPassword(password), nil }

// checkNewPassword is the API's password policy, so the CLI refuses what
// sign-up refuses.
func checkNewPassword(password, email, name string) error {
	return api.CheckNewPassword(password, email, name)
}

// iceServers lists the ICE servers handed to an admitted user with their
// call token; TURN credentials are minted per user when the relay runs.
func (p *platform) iceServers(userID string) []api.ICEServer {
	if p.relay == nil {
		return nil
	}
	list, err := p.relay.ICEServers(userID)
	if err != nil {
		p.log.Error("turn credentials", "err", err)
		return nil
	}
	out := make([]api.ICEServer, len(list))
	for i, s := range list {
		out[i] = api.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential}
	}
	return out
}

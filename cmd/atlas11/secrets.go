package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// storedSecrets are generated on first start so that a fresh install is
// secure without any set-up; configured values always win.
type storedSecrets struct {
	CallToken string `json:"call_token"`
	Internal  string `json:"internal"`
	TURN      string `json:"turn"`
}

// loadSecrets fills empty secrets in cfg from <data_dir>/secrets.json,
// generating and saving (mode 0600) any that are missing.
func loadSecrets(dataDir string) (storedSecrets, error) {
	path := filepath.Join(dataDir, "secrets.json")
	var s storedSecrets
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(data, &s); err != nil {
			return s, fmt.Errorf("secrets: %s is not valid JSON: %w", path, err)
		}
	case errors.Is(err, os.ErrNotExist):
	default:
		return s, fmt.Errorf("secrets: %w", err)
	}
	changed := false
	for _, p := range []*string{&s.CallToken, &s.Internal, &s.TURN} {
		if *p == "" {
			*p = randomHex(32)
			changed = true
		}
	}
	if !changed {
		return s, nil
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return s, fmt.Errorf("secrets: %w", err)
	}
	out, _ := json.MarshalIndent(s, "", "  ")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, out, 0o600); err != nil {
		return s, fmt.Errorf("secrets: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return s, fmt.Errorf("secrets: %w", err)
	}
	return s, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

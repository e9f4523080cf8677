package main

import "fmt"

// hashPassword is set by the wiring to the API's password hasher, so the CLI
// and sign-up store the same format.
var hashPassword = func(string) (string, error) {
	return "", fmt.Errorf("password hashing is not wired yet")
}

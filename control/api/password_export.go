package api

// HashPassword hashes a password exactly as sign-up does; the operator CLI
// uses it so that operators sign in through the same check.
func HashPassword(password string) string { return hashPassword(defaultArgon(), password) }

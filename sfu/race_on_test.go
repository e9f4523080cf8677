//go:build race

package sfu

// raceEnabled: under the race detector 50 in-process pion peers starve the two
// cores, and the test's own receivers drop packets; the server is still checked.
const raceEnabled = true

package turn

import (
	"crypto/hmac"
	"crypto/md5"  //nolint:gosec // TURN long-term credentials are defined with MD5 (RFC 5389).
	"crypto/sha1" //nolint:gosec // TURN REST API passwords are HMAC-SHA1 by convention.
	"encoding/base64"
	"errors"
	"net"
	"strconv"
	"strings"
	"time"
)

// maxUserIDLen bounds the user part of a username; STUN caps USERNAME at 513 bytes.
const maxUserIDLen = 256

var (
	errMalformedUsername = errors.New("turn: username is not expiry:userID")
)

// Credentials mints TURN REST API credentials (draft-uberti-behave-turn-rest):
// username "expiry:userID" with expiry in Unix seconds, password
// base64(HMAC-SHA1(secret, username)). Standard clients (browsers, coturn's
// tools with -u/-w or -W) can use them as long-term credentials.
func Credentials(secret, userID string, ttl time.Duration, now time.Time) (username, password string) {
	username = strconv.FormatInt(now.Add(ttl).Unix(), 10) + ":" + userID
	return username, restPassword(secret, username)
}

func restPassword(secret, username string) string {
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// longTermKey is the RFC 5389 long-term credential key MD5(username:realm:password).
func longTermKey(username, realm, password string) []byte {
	sum := md5.Sum([]byte(username + ":" + realm + ":" + password)) //nolint:gosec // mandated by RFC 5389
	return sum[:]
}

// ParseUsername splits a TURN REST username into its expiry and user ID.
// The user ID must be non-empty printable text without ':' and at most 256
// bytes; the expiry must be decimal Unix seconds.
func ParseUsername(username string) (expiry time.Time, userID string, err error) {
	ts, user, ok := strings.Cut(username, ":")
	if !ok || ts == "" || len(ts) > 19 || user == "" || len(user) > maxUserIDLen {
		return time.Time{}, "", errMalformedUsername
	}
	for _, r := range ts {
		if r < '0' || r > '9' {
			return time.Time{}, "", errMalformedUsername
		}
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return time.Time{}, "", errMalformedUsername
	}
	for _, r := range user {
		if r == ':' || r < 0x20 || r == 0x7f || r == '\uFFFD' {
			return time.Time{}, "", errMalformedUsername
		}
	}
	return time.Unix(secs, 0), user, nil
}

// ICEServer is one entry of the browser's RTCConfiguration.iceServers, in
// the shape the browser expects once JSON-encoded.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// ICEServers returns the TURN servers a browser should use: UDP and TCP on
// port, plus TURN over TLS on tlsPort when tlsPort > 0.
func ICEServers(host string, port, tlsPort int, username, password string) []ICEServer {
	hp := net.JoinHostPort(host, strconv.Itoa(port))
	urls := []string{
		"turn:" + hp + "?transport=udp",
		"turn:" + hp + "?transport=tcp",
	}
	if tlsPort > 0 {
		urls = append(urls, "turns:"+net.JoinHostPort(host, strconv.Itoa(tlsPort))+"?transport=tcp")
	}
	return []ICEServer{{URLs: urls, Username: username, Credential: password}}
}

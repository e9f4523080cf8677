package control

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"
)

// update runs fn in one write transaction. Rule checks come before any write
// in fn, so a refusal (an *Error that is not Internal) commits nothing and is
// returned to the caller without failing the shared bbolt batch; any other
// error rolls the transaction back.
//
// A refusal returned after a write would commit half a use case, so it is
// turned into a rollback: the guard below makes that mistake harmless.
func (s *Service) update(fn func(tx Tx) error) error {
	var refusal error
	err := s.store.Update(func(tx Tx) error {
		refusal = nil
		w := &writeTracker{Tx: tx, memo: s.userMemo}
		err := fn(w)
		var de *Error
		if errors.As(err, &de) && de.Kind != Internal {
			if w.wrote {
				return err // roll back: the refusal came after a write
			}
			refusal = err
			return nil
		}
		return err
	})
	if err != nil {
		return internal(err)
	}
	return refusal
}

// writeTracker notes whether a transaction function has written yet.
type writeTracker struct {
	Tx
	wrote bool
	memo  *userMemo
}

func (w *writeTracker) users() *userMemo { return w.memo }

func (w *writeTracker) Put(bucket string, key, val []byte) error {
	w.wrote = true
	return w.Tx.Put(bucket, key, val)
}

func (w *writeTracker) Delete(bucket string, key []byte) error {
	w.wrote = true
	return w.Tx.Delete(bucket, key)
}

func (s *Service) view(fn func(tx Tx) error) error {
	return s.store.View(func(tx Tx) error { return fn(readTx{tx, s.userMemo}) })
}

// readTx is a read transaction carrying the user memo.
type readTx struct {
	Tx
	memo *userMemo
}

func (r readTx) users() *userMemo { return r.memo }

// internal classifies a store failure; the error's text is for the logs
// only (the HTTP edge never shows an Internal message).
func internal(err error) error {
	var de *Error
	if errors.As(err, &de) {
		return err
	}
	if errors.Is(err, ErrStorageUnavailable) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EROFS) ||
		errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EIO) {
		return &storeFailure{e: StorageUnavailable(), cause: err}
	}
	return &Error{Kind: Internal, Code: "internal", Message: err.Error()}
}

// storeFailure is the client-facing error of a store failure that keeps the
// cause for the logs.
type storeFailure struct {
	e     *Error
	cause error
}

func (f *storeFailure) Unwrap() []error { return []error{f.e, f.cause} }
func (f *storeFailure) Error() string   { return f.e.Error() + ": " + f.cause.Error() }

// getJSON loads key into v; it reports whether the key exists.
func getJSON(tx Tx, bucket, key string, v any) (bool, error) {
	b := tx.Get(bucket, []byte(key))
	if b == nil {
		return false, nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return true, fmt.Errorf("decode %s/%s: %w", bucket, key, err)
	}
	return true, nil
}

func putJSON(tx Tx, bucket, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s/%s: %w", bucket, key, err)
	}
	return tx.Put(bucket, []byte(key), b)
}

// ts encodes an instant as 8 big-endian bytes of Unix seconds, so that
// byte order is time order.
// Instants before 1970 (such as the zero time, "no lower bound") clamp to 0.
func ts(t time.Time) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(max(t.Unix(), 0)))
	return string(b[:])
}

func tsNano(t time.Time) string {
	var b [8]byte
	n := int64(0)
	if t.Unix() >= 0 && t.Year() < 2262 { // UnixNano is only defined in that range
		n = t.UnixNano()
	}
	binary.BigEndian.PutUint64(b[:], uint64(n))
	return string(b[:])
}

func parseTS(b string) time.Time {
	if len(b) < 8 {
		return time.Time{}
	}
	return time.Unix(int64(binary.BigEndian.Uint64([]byte(b[:8]))), 0).UTC()
}

// prefixEnd is the first key after every key starting with p.
func prefixEnd(p string) []byte { return []byte(p + "\xff") }

// scanPrefix calls fn for every key starting with p.
func scanPrefix(tx Tx, bucket, p string, fn func(k, v []byte) error) error {
	return tx.Scan(bucket, []byte(p), prefixEnd(p), fn)
}

func putInt(tx Tx, bucket, key string, n int64) error {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(n))
	return tx.Put(bucket, []byte(key), b[:])
}

func getInt(tx Tx, bucket, key string) int64 {
	b := tx.Get(bucket, []byte(key))
	if len(b) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(b))
}

// loadUser returns a user or NotFound.
func loadUser(tx Tx, id string) (User, error) {
	raw := tx.Get(bUsers, []byte(id))
	if raw == nil || id == "" {
		return User{}, Errorf(NotFound, "user_not_found", "no such user")
	}
	return decodeUser(tx, id, raw)
}

// actor returns the acting user, refusing unknown and closed accounts and,
// when roles are given, any other role.
func actor(tx Tx, id string, roles ...Role) (User, error) {
	if id == "" {
		return User{}, Errorf(Unauthorized, "not_signed_in", "sign in first")
	}
	u, err := loadUser(tx, id)
	if ErrorKind(err) == NotFound {
		return u, Errorf(Unauthorized, "not_signed_in", "sign in first")
	}
	if err != nil {
		return u, err
	}
	if u.Closed {
		return u, Errorf(Forbidden, "account_closed", "this account is closed")
	}
	if len(roles) == 0 {
		return u, nil
	}
	for _, r := range roles {
		if u.Role == r {
			return u, nil
		}
	}
	return u, Errorf(Forbidden, "role_forbidden", "a %s account cannot do this", u.Role)
}

func loadBooking(tx Tx, id string) (Booking, error) {
	var b Booking
	ok, err := getJSON(tx, bBookings, id, &b)
	if err != nil {
		return b, err
	}
	if !ok || id == "" {
		return b, Errorf(NotFound, "booking_not_found", "no such booking")
	}
	return b, nil
}

func loadEvent(tx Tx, id string) (Event, error) {
	var e Event
	ok, err := getJSON(tx, bEvents, id, &e)
	if err != nil {
		return e, err
	}
	if !ok || id == "" {
		return e, Errorf(NotFound, "event_not_found", "no such event")
	}
	return e, nil
}

func loadClaim(tx Tx, id string) (Claim, error) {
	var c Claim
	ok, err := getJSON(tx, bClaims, id, &c)
	if err != nil {
		return c, err
	}
	if !ok || id == "" {
		return c, Errorf(NotFound, "claim_not_found", "no such claim")
	}
	return c, nil
}

func loadProfile(tx Tx, expertID string) (ExpertProfile, error) {
	var p ExpertProfile
	ok, err := getJSON(tx, bProfiles, expertID, &p)
	if err != nil {
		return p, err
	}
	if !ok || expertID == "" {
		return p, Errorf(NotFound, "expert_not_found", "no such expert")
	}
	return p, nil
}

// addDue queues background work at instant at.
func addDue(tx Tx, at time.Time, kind, id string) error {
	return tx.Put(bDue, []byte(ts(at)+kind+"/"+id), nil)
}

func delDue(tx Tx, at time.Time, kind, id string) error {
	return tx.Delete(bDue, []byte(ts(at)+kind+"/"+id))
}

// An idempotency record holds a fingerprint of the request beside its
// answer, so the same key sent with a different request is refused instead
// of silently answering the first one (PAY-7). Records written before
// fingerprints existed carry none and match any request.
const idemFPPrefix = "fp:"

func idemFingerprint(request string) string {
	sum := sha256.Sum256([]byte(request))
	return idemFPPrefix + hex.EncodeToString(sum[:16]) + " "
}

// errKeyReused is the answer to an idempotency key sent again with a
// different request.
func errKeyReused() error {
	return &Error{Kind: Rule, Code: "idempotency_key_reused", Field: "Idempotency-Key",
		Message: "this Idempotency-Key was already used for a different request: use a new key"}
}

// idem names one idempotent request: the key's scope (operation and actor),
// the client's key, and a description of the request (its fields, not the
// key) that the fingerprint is taken of.
type idem struct{ scope, key, request string }

// get returns the stored answer of the request, or "" when the key is new.
func (k idem) get(tx Tx) (string, error) {
	if k.key == "" {
		return "", nil
	}
	v := string(tx.Get(bIdem, []byte(k.scope+"/"+k.key)))
	if !strings.HasPrefix(v, idemFPPrefix) {
		return v, nil
	}
	fp := idemFingerprint(k.request)
	if !strings.HasPrefix(v, fp) {
		return "", errKeyReused()
	}
	return v[len(fp):], nil
}

// put records val as the answer of the request.
func (k idem) put(tx Tx, val string) error {
	if k.key == "" {
		return nil
	}
	return tx.Put(bIdem, []byte(k.scope+"/"+k.key), []byte(idemFingerprint(k.request)+val))
}

package bolt

import (
	"encoding/binary"
	"time"

	"atlas11/control"
)

var probeKey = []byte("probe")

// Probe proves the store still takes writes: one tiny commit through the
// group committer, fsynced like every other, so a full or read-only disk
// or a closed store fails it (readiness, /readyz).
func (d *DB) Probe() error {
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], uint64(time.Now().UnixNano()))
	return d.Update(func(tx control.Tx) error { return tx.Put(metaBucket, probeKey, buf[:]) })
}

// LastStorageFailure is when the storage last refused a commit (disk full,
// read-only, I/O error); zero if never since Open. A probe can succeed by
// rewriting pages already on disk while larger writes still fail, so
// readiness looks at both.
func (d *DB) LastStorageFailure() time.Time {
	if ns := d.lastFail.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

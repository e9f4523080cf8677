// Package bolt implements control.Store on go.etcd.io/bbolt: fsync on every
// commit, concurrent writes grouped into one commit and one fsync (group
// commit), buckets created at open, a schema version with an upgrade path
// and hot backups.
package bolt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"atlas11/control"

	bbolt "go.etcd.io/bbolt"
	bberrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the layout version this code reads and writes.
const SchemaVersion = 2

const metaBucket = "_schema"

var versionKey = []byte("version")

// migrations[v] upgrades a file from version v to v+1. Version 0 is a new
// file. Add a function here when the layout changes; never edit one.
func migrations() []func(*bbolt.Tx) error {
	return []func(*bbolt.Tx) error{
		0: func(*bbolt.Tx) error { return nil }, // 0 -> 1: buckets created below
		// 1 -> 2: failed background jobs are recorded (retry, dead letter).
		// A schema-1 binary would not see those records and would run a
		// dead-lettered job again every second, so it must refuse the file.
		1: func(tx *bbolt.Tx) error {
			_, err := tx.CreateBucketIfNotExists([]byte("job_failures"))
			return err
		},
	}
}

// Options tunes Open. The zero value is a good default.
type Options struct {
	// Timeout waits this long for the file lock held by another process.
	Timeout time.Duration
	// MaxBatchDelay makes the committer wait this long after the first
	// write of a group for more to arrive. Zero (the default) commits as
	// soon as the previous commit is done: writes arriving during an fsync
	// form the next group, so batching adapts to load without a timer.
	MaxBatchDelay time.Duration
	// MaxBatchSize caps the writes in one commit (default 1000).
	MaxBatchSize int
	// MmapSize is the address space mapped at open (default 1 GiB; it is
	// not memory). While the file fits, bbolt never remaps it: a remap waits
	// for every reader, blocks new ones and faults every page in again.
	MmapSize int
}

// DB is a control.Store on a bbolt file.
type DB struct {
	db       *bbolt.DB
	reqs     chan *call
	closing  chan struct{}
	done     chan struct{}
	maxBatch int
	delay    time.Duration
	commits  atomic.Uint64
	writes   atomic.Uint64
	lastFail atomic.Int64 // Unix ns of the last commit the storage refused (probe.go)

	mu     sync.RWMutex // closed is set under it, so no Update sends after Close
	closed bool
}

// Stats counts group commits, for metrics: Writes/Commits is the average
// group size.
type Stats struct {
	Commits uint64 // bbolt transactions committed by Update (each one fsync)
	Writes  uint64 // Update calls served
	Pages   int64  // pages written by every commit since Open, meta pages included
}

// Stats returns the counters since Open.
func (d *DB) Stats() Stats {
	return Stats{Commits: d.commits.Load(), Writes: d.writes.Load(), Pages: d.pagesWritten()}
}

// call is one Update waiting for the group committer.
type call struct {
	fn  func(control.Tx) error
	err chan error
}

// Open opens or creates the file at path, creates missing directories and
// buckets, and upgrades an older schema. A file written by a newer version
// is refused.
func Open(path string, opts Options) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("bolt: create data directory: %w", err)
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	// NoSync stays false: every commit is fsynced. The freelist is rebuilt at
	// open instead of being written on every commit, which cuts write
	// amplification without weakening durability of the data.
	mmapSize := opts.MmapSize
	if mmapSize == 0 {
		mmapSize = 1 << 30
	}
	existed, err := checkExisting(path, timeout)
	if err != nil {
		return nil, fmt.Errorf("bolt: %s: %w", path, err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: timeout, NoSync: false,
		NoFreelistSync: true, FreelistType: bbolt.FreelistMapType, InitialMmapSize: mmapSize})
	if err != nil {
		if errors.Is(err, bberrors.ErrTimeout) {
			err = ErrLocked
		}
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	if existed {
		// A sound bbolt file of another program is not ours to add buckets to.
		if err := db.View(isAtlas11); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("bolt: %s: %w", path, err)
		}
	}
	if err := db.Update(upgrade); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("bolt: %s: %w", path, err)
	}
	d := &DB{db: db, reqs: make(chan *call, 4096), closing: make(chan struct{}), done: make(chan struct{}),
		maxBatch: 1000, delay: opts.MaxBatchDelay}
	if opts.MaxBatchSize > 0 {
		d.maxBatch = opts.MaxBatchSize
	}
	go d.commitLoop()
	return d, nil
}

// ErrNewerSchema is returned by Open for a file written by a newer version.
var ErrNewerSchema = errors.New("data file has a newer schema version than this binary")

func upgrade(tx *bbolt.Tx) error {
	meta, err := tx.CreateBucketIfNotExists([]byte(metaBucket))
	if err != nil {
		return err
	}
	v := uint64(0)
	if b := meta.Get(versionKey); len(b) == 8 {
		v = binary.BigEndian.Uint64(b)
	}
	if v > SchemaVersion {
		return fmt.Errorf("%w (file %d, binary %d): upgrade the binary", ErrNewerSchema, v, SchemaVersion)
	}
	steps := migrations()
	for ; v < SchemaVersion; v++ {
		if err := steps[v](tx); err != nil {
			return fmt.Errorf("upgrade schema %d -> %d: %w", v, v+1, err)
		}
	}
	for _, name := range control.Buckets() {
		if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
			return err
		}
	}
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], SchemaVersion)
	return meta.Put(versionKey, buf[:])
}

// Version returns the schema version stored in the file.
func (d *DB) Version() (int, error) {
	var v int
	err := d.db.View(func(tx *bbolt.Tx) error {
		if b := tx.Bucket([]byte(metaBucket)).Get(versionKey); len(b) == 8 {
			v = int(binary.BigEndian.Uint64(b))
		}
		return nil
	})
	return v, err
}

// ErrClosed is returned by Update after Close.
var ErrClosed = errors.New("bolt: store closed")

// Close stops the committer after the writes already queued and closes the
// file.
func (d *DB) Close() error {
	d.mu.Lock()
	already := d.closed
	d.closed = true
	d.mu.Unlock()
	if !already {
		close(d.closing)
	}
	<-d.done
	return d.db.Close()
}

// Path returns the file path.
func (d *DB) Path() string { return d.db.Path() }

// Backup writes a consistent copy of the whole file to w while readers and
// writers continue (hot backup), returning the number of bytes written.
func (d *DB) Backup(w io.Writer) (int64, error) {
	var n int64
	err := d.db.View(func(tx *bbolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// View runs fn in a read-only transaction.
func (d *DB) View(fn func(control.Tx) error) error {
	return d.db.View(func(tx *bbolt.Tx) error { return fn(boltTx{tx}) })
}

// Update runs fn in a read-write transaction, grouped with concurrent
// callers into one commit and one fsync. If fn fails, the group is rolled
// back and the others are run again without it, so fn may run more than
// once and must not have side effects outside tx.
func (d *DB) Update(fn func(control.Tx) error) error {
	c := &call{fn: fn, err: make(chan error, 1)}
	d.mu.RLock()
	if d.closed {
		d.mu.RUnlock()
		return ErrClosed
	}
	d.reqs <- c // the committer runs until Close has set closed
	d.mu.RUnlock()
	return <-c.err
}

// commitLoop is the group committer: it takes every write queued while the
// previous commit was syncing and commits them together.
func (d *DB) commitLoop() {
	defer close(d.done)
	for {
		var first *call
		select {
		case first = <-d.reqs:
		case <-d.closing:
			// Serve what was queued before Close, then stop.
			for {
				select {
				case c := <-d.reqs:
					d.run([]*call{c})
				default:
					return
				}
			}
		}
		group := d.gather(first)
		d.run(group)
	}
}

// gather collects the writes queued behind first. Without a delay it lets
// the callers woken by the previous commit run (Gosched) and keeps taking
// writes while they keep coming, so groups grow with load without a timer.
func (d *DB) gather(first *call) []*call {
	group := []*call{first}
	if d.delay > 0 {
		timer := time.NewTimer(d.delay)
		defer timer.Stop()
		for len(group) < d.maxBatch {
			select {
			case c := <-d.reqs:
				group = append(group, c)
			case <-timer.C:
				return group
			}
		}
		return group
	}
	for idle := 0; idle < 3 && len(group) < d.maxBatch; {
		select {
		case c := <-d.reqs:
			group = append(group, c)
			idle = 0
		default:
			idle++
			runtime.Gosched()
		}
	}
	return group
}

// errTrySolo marks a group aborted by one of its functions.
var errTrySolo = errors.New("bolt: retry functions one by one")

// run commits a group; a failing function is answered alone with its own
// error and the rest are committed without it.
func (d *DB) run(group []*call) {
	for len(group) > 0 {
		failed := -1
		var failErr error
		err := d.db.Update(func(tx *bbolt.Tx) error {
			for i, c := range group {
				if err := safeCall(c.fn, tx); err != nil {
					failed, failErr = i, err
					return errTrySolo
				}
			}
			return nil
		})
		d.commits.Add(1)
		if failed < 0 {
			if err != nil {
				err = d.storageErr(err)
			}
			d.writes.Add(uint64(len(group)))
			for _, c := range group {
				c.err <- err
			}
			return
		}
		if len(group) == 1 {
			group[0].err <- failErr
			return
		}
		bad := group[failed]
		d.commits.Add(1)
		d.writes.Add(1)
		var fnErr error
		err = d.db.Update(func(tx *bbolt.Tx) error { fnErr = safeCall(bad.fn, tx); return fnErr })
		if err != nil && err != fnErr {
			err = d.storageErr(err)
		}
		bad.err <- err
		group = append(group[:failed:failed], group[failed+1:]...)
	}
}

// storageErr marks a failure of bbolt itself (begin, write, fsync, grow),
// not of a transaction function: the machine's storage refused the commit.
func (d *DB) storageErr(err error) error {
	d.lastFail.Store(time.Now().UnixNano())
	return fmt.Errorf("%w: %w", control.ErrStorageUnavailable, err)
}

func safeCall(fn func(control.Tx) error, tx *bbolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("bolt: panic in update: %v", p)
		}
	}()
	return fn(boltTx{tx})
}

type boltTx struct{ tx *bbolt.Tx }

func (t boltTx) bucket(name string) (*bbolt.Bucket, error) {
	b := t.tx.Bucket([]byte(name))
	if b == nil {
		return nil, fmt.Errorf("bolt: unknown bucket %q", name)
	}
	return b, nil
}

// Get returns a copy of the value, so it stays valid after the transaction.
func (t boltTx) Get(bucket string, key []byte) []byte {
	b, err := t.bucket(bucket)
	if err != nil {
		return nil
	}
	v := b.Get(key)
	if v == nil {
		return nil
	}
	return bytes.Clone(v)
}

func (t boltTx) Put(bucket string, key, val []byte) error {
	b, err := t.bucket(bucket)
	if err != nil {
		return err
	}
	if val == nil {
		val = []byte{}
	}
	return b.Put(key, val)
}

func (t boltTx) Delete(bucket string, key []byte) error {
	b, err := t.bucket(bucket)
	if err != nil {
		return err
	}
	return b.Delete(key)
}

// Scan passes copies of keys and values to fn.
func (t boltTx) Scan(bucket string, from, to []byte, fn func(k, v []byte) error) error {
	b, err := t.bucket(bucket)
	if err != nil {
		return err
	}
	c := b.Cursor()
	for k, v := c.Seek(from); k != nil; k, v = c.Next() {
		if to != nil && bytes.Compare(k, to) >= 0 {
			break
		}
		if err := fn(bytes.Clone(k), bytes.Clone(v)); err != nil {
			if errors.Is(err, control.ErrStopScan) {
				return nil
			}
			return err
		}
	}
	return nil
}

var _ control.Store = (*DB)(nil)

func (d *DB) pagesWritten() int64 {
	st := d.db.Stats()
	return st.TxStats.GetWrite()
}

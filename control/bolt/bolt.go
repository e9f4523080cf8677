// Package bolt implements control.Store on go.etcd.io/bbolt: fsync on every
// commit, concurrent writes grouped into one fsync by db.Batch, buckets
// created at open, a schema version with an upgrade path and hot backups.
package bolt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"atlas11/control"

	bbolt "go.etcd.io/bbolt"
)

// SchemaVersion is the layout version this code reads and writes.
const SchemaVersion = 1

const metaBucket = "_schema"

var versionKey = []byte("version")

// migrations[v] upgrades a file from version v to v+1. Version 0 is a new
// file. Add a function here when the layout changes; never edit one.
func migrations() []func(*bbolt.Tx) error {
	return []func(*bbolt.Tx) error{
		0: func(*bbolt.Tx) error { return nil }, // 0 -> 1: buckets created below
	}
}

// Options tunes Open. The zero value is a good default.
type Options struct {
	// Timeout waits this long for the file lock held by another process.
	Timeout time.Duration
	// MaxBatchDelay and MaxBatchSize tune write grouping; zero keeps bbolt's
	// defaults (10 ms, 1000).
	MaxBatchDelay time.Duration
	MaxBatchSize  int
}

// DB is a control.Store on a bbolt file.
type DB struct {
	db *bbolt.DB
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
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: timeout, NoSync: false})
	if err != nil {
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	if opts.MaxBatchDelay > 0 {
		db.MaxBatchDelay = opts.MaxBatchDelay
	}
	if opts.MaxBatchSize > 0 {
		db.MaxBatchSize = opts.MaxBatchSize
	}
	if err := db.Update(upgrade); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("bolt: %s: %w", path, err)
	}
	return &DB{db: db}, nil
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

// Close closes the file.
func (d *DB) Close() error { return d.db.Close() }

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
// callers into one commit and one fsync (db.Batch). fn may run more than
// once, so it must not have side effects outside tx.
func (d *DB) Update(fn func(control.Tx) error) error {
	return d.db.Batch(func(tx *bbolt.Tx) error { return fn(boltTx{tx}) })
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

package bolt_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"atlas11/control"
	"atlas11/control/bolt"

	bbolt "go.etcd.io/bbolt"
)

func open(t testing.TB, path string) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestOpen_CreatesBucketsAndSchemaVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "a.db")
	db := open(t, path)
	defer db.Close()
	v, err := db.Version()
	if err != nil || v != bolt.SchemaVersion {
		t.Fatalf("version %d %v", v, err)
	}
	err = db.View(func(tx control.Tx) error {
		for _, b := range control.Buckets() {
			if err := tx.Scan(b, nil, nil, func(k, v []byte) error { return nil }); err != nil {
				return fmt.Errorf("bucket %s: %w", b, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpen_RefusesANewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	open(t, path).Close()
	raw, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = raw.Update(func(tx *bbolt.Tx) error {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], bolt.SchemaVersion+1)
		return tx.Bucket([]byte("_schema")).Put([]byte("version"), b[:])
	})
	raw.Close()
	if err != nil {
		t.Fatal(err)
	}
	_, err = bolt.Open(path, bolt.Options{})
	if !errors.Is(err, bolt.ErrNewerSchema) {
		t.Fatalf("got %v, want ErrNewerSchema", err)
	}
}

func TestOpen_UpgradesAnOlderFile(t *testing.T) {
	// A version-0 file: no schema bucket, no domain buckets.
	path := filepath.Join(t.TempDir(), "old.db")
	raw, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw.Close()
	db := open(t, path)
	defer db.Close()
	if v, _ := db.Version(); v != bolt.SchemaVersion {
		t.Fatalf("version %d", v)
	}
}

func TestTx_GetPutDeleteScanAndCommitIsDurable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	db := open(t, path)
	err := db.Update(func(tx control.Tx) error {
		for _, k := range []string{"a/1", "a/2", "a/3", "b/1"} {
			if err := tx.Put("meta", []byte(k), []byte("v"+k)); err != nil {
				return err
			}
		}
		return tx.Delete("meta", []byte("a/2"))
	})
	if err != nil {
		t.Fatal(err)
	}
	// A failed transaction writes nothing.
	boom := errors.New("boom")
	if err := db.Update(func(tx control.Tx) error {
		_ = tx.Put("meta", []byte("a/9"), []byte("x"))
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
	db.Close()
	db = open(t, path)
	defer db.Close()
	var keys []string
	var held []byte
	err = db.View(func(tx control.Tx) error {
		held = tx.Get("meta", []byte("a/1"))
		return tx.Scan("meta", []byte("a/"), []byte("a/\xff"), func(k, v []byte) error {
			keys = append(keys, string(k))
			if len(keys) == 1 {
				return control.ErrStopScan
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(keys) != "[a/1]" {
		t.Fatalf("keys %v", keys)
	}
	// Values are copies, valid after the transaction.
	if string(held) != "va/1" {
		t.Fatalf("held %q", held)
	}
	err = db.View(func(tx control.Tx) error {
		keys = nil
		return tx.Scan("meta", []byte("a/"), []byte("a/\xff"), func(k, v []byte) error {
			keys = append(keys, string(k))
			return nil
		})
	})
	if err != nil || fmt.Sprint(keys) != "[a/1 a/3]" {
		t.Fatalf("keys %v %v", keys, err)
	}
	if err := db.Update(func(tx control.Tx) error { return tx.Put("nope", []byte("k"), nil) }); err == nil {
		t.Fatal("unknown bucket accepted")
	}
}

func TestUpdate_ConcurrentWritesAllCommitted(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "a.db"))
	defer db.Close()
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := db.Update(func(tx control.Tx) error {
				return tx.Put("meta", []byte(fmt.Sprintf("k%03d", i)), []byte("v"))
			}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	n := 0
	db.View(func(tx control.Tx) error {
		return tx.Scan("meta", []byte("k"), []byte("l"), func(k, v []byte) error { n++; return nil })
	})
	if n != 200 {
		t.Fatalf("%d keys", n)
	}
}

func TestBackup_HotCopyOpensWithTheSameData(t *testing.T) {
	dir := t.TempDir()
	db := open(t, filepath.Join(dir, "a.db"))
	defer db.Close()
	if err := db.Update(func(tx control.Tx) error { return tx.Put("users", []byte("u1"), []byte("ana")) }); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := db.Backup(&buf)
	if err != nil || n != int64(buf.Len()) || n == 0 {
		t.Fatalf("backup %d %v", n, err)
	}
	// Writes keep working after a backup.
	if err := db.Update(func(tx control.Tx) error { return tx.Put("users", []byte("u2"), []byte("bob")) }); err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(dir, "copy.db")
	if err := os.WriteFile(copyPath, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	cp := open(t, copyPath)
	defer cp.Close()
	var got []byte
	cp.View(func(tx control.Tx) error { got = tx.Get("users", []byte("u1")); return nil })
	if string(got) != "ana" {
		t.Fatalf("copy has %q", got)
	}
}

func TestUpdate_AFailingWriteInAGroupLeavesNoTraceAndOthersCommit(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "a.db"))
	defer db.Close()
	boom := errors.New("boom")
	var wg sync.WaitGroup
	errs := make([]error, 300)
	for i := range 300 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.Update(func(tx control.Tx) error {
				if err := tx.Put("meta", []byte(fmt.Sprintf("k%03d", i)), []byte("v")); err != nil {
					return err
				}
				switch i % 3 {
				case 1:
					return boom
				case 2:
					if i%30 == 2 {
						panic("bad update")
					}
				}
				return nil
			})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		switch {
		case i%3 == 1 && !errors.Is(err, boom):
			t.Fatalf("update %d: %v, want boom", i, err)
		case i%3 == 2 && i%30 == 2 && err == nil:
			t.Fatalf("update %d panicked without an error", i)
		case i%3 == 0 && err != nil:
			t.Fatalf("update %d: %v", i, err)
		}
	}
	db.View(func(tx control.Tx) error {
		for i := range 300 {
			got := tx.Get("meta", []byte(fmt.Sprintf("k%03d", i))) != nil
			want := i%3 == 0 || (i%3 == 2 && i%30 != 2)
			if got != want {
				t.Fatalf("key %d present=%v, want %v", i, got, want)
			}
		}
		return nil
	})
	st := db.Stats()
	if st.Commits == 0 || st.Writes < 200 {
		t.Fatalf("stats %+v", st)
	}
}

func TestUpdate_AfterCloseRefused(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "a.db"))
	db.Close()
	if err := db.Update(func(tx control.Tx) error { return nil }); !errors.Is(err, bolt.ErrClosed) {
		t.Fatalf("got %v", err)
	}
}

// Another program's sound bbolt file is refused untouched, and a second open
// of a held file says it is locked rather than damaged.
func TestOpen_RefusesForeignFileAndReportsLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.db")
	raw, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucket([]byte("theirs")); return err }); err != nil {
		t.Fatal(err)
	}
	_ = raw.Close()
	before, _ := os.ReadFile(path)
	if _, err := bolt.Open(path, bolt.Options{}); !errors.Is(err, bolt.ErrCorrupt) {
		t.Fatalf("foreign file: %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("the foreign file was written to")
	}

	held := open(t, filepath.Join(t.TempDir(), "a.db"))
	defer held.Close()
	if _, err := bolt.Open(held.Path(), bolt.Options{Timeout: 100 * time.Millisecond}); !errors.Is(err, bolt.ErrLocked) || errors.Is(err, bolt.ErrCorrupt) {
		t.Fatalf("held file: %v", err)
	}
}

package bolt_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"atlas11/control"
	"atlas11/control/bolt"

	bbolt "go.etcd.io/bbolt"
)

// BenchmarkUpdateSerial is one fsynced commit of one small write: the floor
// of any write's latency on this disk.
func BenchmarkUpdateSerial(b *testing.B) {
	db := open(b, filepath.Join(b.TempDir(), "a.db"))
	defer db.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := db.Update(func(tx control.Tx) error {
			return tx.Put("meta", []byte(fmt.Sprintf("k%09d", i)), []byte("v"))
		}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenChecked is Open of a file of 500,000 500-byte values: the check walks every
// reachable page before bbolt maps the file (the figure is in the README).
func BenchmarkOpenChecked(b *testing.B) {
	path := filepath.Join(b.TempDir(), "big.db")
	db := open(b, path)
	val := make([]byte, 500)
	const perTx, total = 20_000, 500_000
	for n := 0; n < total; n += perTx {
		if err := db.Update(func(tx control.Tx) error {
			for i := n; i < n+perTx; i++ {
				if err := tx.Put("meta", fmt.Appendf(nil, "k%09d", i), val); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	_ = db.Close()
	if st, err := os.Stat(path); err == nil {
		b.Logf("file: %d MiB", st.Size()>>20)
	}
	b.ResetTimer()
	b.Run("checked", func(b *testing.B) {
		for range b.N {
			d, err := bolt.Open(path, bolt.Options{})
			if err != nil {
				b.Fatal(err)
			}
			_ = d.Close()
		}
	})
	// bbolt alone, opened as Open does and with its first write, which
	// walks the same pages to rebuild the freelist: the check's share is
	// the difference.
	b.Run("bbolt-only", func(b *testing.B) {
		for range b.N {
			d, err := bbolt.Open(path, 0o600, &bbolt.Options{NoFreelistSync: true, FreelistType: bbolt.FreelistMapType, InitialMmapSize: 1 << 30})
			if err != nil {
				b.Fatal(err)
			}
			if err := d.Update(func(*bbolt.Tx) error { return nil }); err != nil {
				b.Fatal(err)
			}
			_ = d.Close()
		}
	})
}

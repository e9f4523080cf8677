package bolt_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"atlas11/control"
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

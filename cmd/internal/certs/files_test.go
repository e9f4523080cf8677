package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// pair returns a PEM certificate with the given serial and its key.
func pair(t *testing.T, serial int64) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "files test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"visio.example.org"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func serial(t *testing.T, s *FileSource) int64 {
	t.Helper()
	c, err := s.GetCertificate(nil)
	if err != nil || c == nil {
		t.Fatalf("GetCertificate: %v %v", c, err)
	}
	return c.Leaf.SerialNumber.Int64()
}

// A half-written or mismatched pair never replaces a good one; the good
// pair that follows is served at once.
func TestFileSource_BadReplacementKeepsServingGoodOne(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	c1, k1 := pair(t, 1)
	write(t, certFile, c1)
	write(t, keyFile, k1)
	s, err := NewFileSource(certFile, keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	c2, k2 := pair(t, 2)
	write(t, certFile, c2[:len(c2)/2]) // half written
	if got := serial(t, s); got != 1 {
		t.Fatalf("half-written certificate: serving %d, want 1", got)
	}
	write(t, certFile, c2) // the new cert, the old key: not a pair
	if got := serial(t, s); got != 1 {
		t.Fatalf("mismatched pair: serving %d, want 1", got)
	}
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	if got := serial(t, s); got != 1 {
		t.Fatalf("key file missing: serving %d, want 1", got)
	}
	write(t, keyFile, k2)
	if got := serial(t, s); got != 2 {
		t.Fatalf("complete new pair: serving %d, want 2", got)
	}
	if _, err := NewFileSource(filepath.Join(dir, "none.pem"), keyFile, nil); err == nil {
		t.Fatal("a missing certificate file was accepted at start")
	}
}

// Handshakes racing with replacements always get a whole, matching pair.
func TestFileSource_ConcurrentHandshakesDuringReplacements(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	pairs := make([][2][]byte, 5)
	for i := range pairs {
		c, k := pair(t, int64(i+1))
		pairs[i] = [2][]byte{c, k}
	}
	write(t, certFile, pairs[0][0])
	write(t, keyFile, pairs[0][1])
	s, err := NewFileSource(certFile, keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan string, 64)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := s.GetCertificate(nil)
				if err != nil || c == nil || c.Leaf == nil {
					errs <- "no certificate"
					return
				}
				if _, err := x509.ParseCertificate(c.Certificate[0]); err != nil {
					errs <- err.Error()
					return
				}
			}
		}()
	}
	for i := 1; i < len(pairs); i++ {
		write(t, certFile, pairs[i][0])
		write(t, keyFile, pairs[i][1])
	}
	close(stop)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if got := serial(t, s); got != int64(len(pairs)) {
		t.Fatalf("after the last replacement: serving %d, want %d", got, len(pairs))
	}
}

package bolt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"syscall"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// ErrCorrupt is returned by Open for a file that exists but is not a valid
// Atlas11 database: empty, truncated, overwritten or damaged.
var ErrCorrupt = errors.New("not a valid Atlas11 database")

// ErrLocked is returned by Open when another process holds the file.
var ErrLocked = errors.New("the database file is locked by another process")

// checkExisting validates the file at path if there is one, holding the
// same lock bbolt takes, so a running server's writes are never mistaken for
// damage. It reports whether the file existed.
func checkExisting(path string, timeout time.Duration) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	for deadline := time.Now().Add(timeout); ; {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return true, err
		}
		if time.Now().After(deadline) {
			return true, ErrLocked
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Closing f releases the lock for bbolt to take.
	return true, checkFile(f)
}

// isAtlas11 refuses a bbolt file holding buckets but not Atlas11's schema
// bucket; an empty one (a crash right after bbolt created it) is fine.
func isAtlas11(tx *bbolt.Tx) error {
	if tx.Bucket([]byte(metaBucket)) != nil {
		return nil
	}
	other := false
	_ = tx.ForEach(func([]byte, *bbolt.Bucket) error { other = true; return nil })
	if other {
		return fmt.Errorf("%w: it holds another program's data (no %s bucket)", ErrCorrupt, metaBucket)
	}
	return nil
}

// bbolt's on-disk format (go.etcd.io/bbolt internal/common): a page starts
// with a 16-byte header; pages 0 and 1 hold the two meta copies.
const (
	pageHeaderSize = 16
	elementSize    = 16 // branch and leaf page elements are both 16 bytes
	metaSize       = 64
	metaSumBytes   = 56 // the checksum covers the meta fields before it
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	branchFlag     = 0x01
	leafFlag       = 0x02
	metaFlag       = 0x04
	bucketLeafFlag = 0x01
	maxNesting     = 64
	noFreelist     = ^uint64(0)
)

type fileMeta struct {
	pageSize uint32
	root     uint64 // page of the root bucket
	pgid     uint64 // high water mark: pages below it lie in the file
	txid     uint64
}

// checkFile validates an existing bbolt file without mapping it: bbolt maps
// the file and follows page numbers blindly, so a truncated or damaged file
// ends in SIGBUS or a panic in one of its goroutines, which no caller can
// recover. It reads the meta pages, checks the file holds every page they
// count, then walks every page reachable from the root bucket, the same
// walk bbolt does at open to rebuild its freelist. A 0-byte file is corrupt
// too: bbolt would silently start an empty database over it.
func checkFile(f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() == 0 {
		return fmt.Errorf("%w: the file is empty (0 bytes)", ErrCorrupt)
	}
	m, err := readMetas(f)
	if err != nil {
		return err
	}
	if need := int64(m.pgid) * int64(m.pageSize); st.Size() < need {
		return fmt.Errorf("%w: truncated: %d bytes, its meta page counts %d", ErrCorrupt, st.Size(), need)
	}
	// The size is checked, so mapping exactly the counted pages is safe; the
	// walk indexes Go slices, so a bad offset is an error, never a fault.
	data, err := syscall.Mmap(int(f.Fd()), 0, int(int64(m.pgid)*int64(m.pageSize)), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("map for checking: %w", err)
	}
	defer func() { _ = syscall.Munmap(data) }()
	w := &walker{data: data, m: m, seen: make([]bool, m.pgid)}
	if err := w.page(m.root, 0); err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return nil
}

// readMetas returns the newest valid meta page, as bbolt would pick it.
func readMetas(f *os.File) (fileMeta, error) {
	var best fileMeta
	var firstErr error
	m0, err := readMeta(f, 0)
	pageSize := int64(os.Getpagesize())
	if err == nil {
		best, pageSize = m0, int64(m0.pageSize)
	} else {
		firstErr = err
	}
	if m1, err := readMeta(f, pageSize); err == nil && (best.pgid == 0 || m1.txid > best.txid) {
		best = m1
	} else if err != nil && firstErr == nil {
		firstErr = err
	}
	if best.pgid == 0 {
		return best, fmt.Errorf("%w: no valid meta page (%v)", ErrCorrupt, firstErr)
	}
	return best, nil
}

func readMeta(f *os.File, off int64) (fileMeta, error) {
	var buf [pageHeaderSize + metaSize]byte
	if _, err := f.ReadAt(buf[:], off); err != nil {
		if errors.Is(err, io.EOF) {
			return fileMeta{}, errors.New("file too short")
		}
		return fileMeta{}, err
	}
	le := binary.LittleEndian
	if le.Uint16(buf[8:]) != metaFlag {
		return fileMeta{}, fmt.Errorf("page at offset %d is not a meta page", off)
	}
	b := buf[pageHeaderSize:]
	if le.Uint32(b[0:]) != boltMagic {
		return fileMeta{}, errors.New("bad magic number")
	}
	if le.Uint32(b[4:]) != boltVersion {
		return fileMeta{}, fmt.Errorf("unsupported format version %d", le.Uint32(b[4:]))
	}
	h := fnv.New64a()
	_, _ = h.Write(b[:metaSumBytes])
	if h.Sum64() != le.Uint64(b[metaSumBytes:]) {
		return fileMeta{}, errors.New("meta checksum mismatch")
	}
	m := fileMeta{pageSize: le.Uint32(b[8:]), root: le.Uint64(b[16:]), pgid: le.Uint64(b[40:]), txid: le.Uint64(b[48:])}
	if fl := le.Uint64(b[32:]); fl != noFreelist && (fl < 2 || fl >= m.pgid) {
		return fileMeta{}, fmt.Errorf("freelist page %d outside the file's %d pages", fl, m.pgid)
	}
	if m.pageSize < 512 || m.pageSize > 1<<20 || m.pageSize&(m.pageSize-1) != 0 {
		return fileMeta{}, fmt.Errorf("implausible page size %d", m.pageSize)
	}
	if m.pgid < 3 || m.root < 2 || m.root >= m.pgid {
		return fileMeta{}, fmt.Errorf("root page %d outside the file's %d pages", m.root, m.pgid)
	}
	return m, nil
}

type walker struct {
	data []byte // the file's counted pages, mapped read-only
	m    fileMeta
	seen []bool // by page id
}

// page checks the B+tree page id and everything below it.
func (w *walker) page(id uint64, depth int) error {
	if depth > maxNesting {
		return errors.New("tree too deep")
	}
	if id < 2 || id >= w.m.pgid {
		return fmt.Errorf("page %d referenced beyond the file's %d pages", id, w.m.pgid)
	}
	ps := uint64(w.m.pageSize)
	head := w.data[id*ps : (id+1)*ps]
	overflow := uint64(binary.LittleEndian.Uint32(head[12:]))
	if binary.LittleEndian.Uint64(head) != id {
		return fmt.Errorf("page %d: header names page %d (zeroed or overwritten)", id, binary.LittleEndian.Uint64(head))
	}
	if overflow >= w.m.pgid || id+overflow >= w.m.pgid {
		return fmt.Errorf("page %d: overflows past the file's %d pages", id, w.m.pgid)
	}
	for i := id; i <= id+overflow; i++ {
		if w.seen[i] {
			return fmt.Errorf("page %d referenced twice", i)
		}
		w.seen[i] = true
	}
	return w.nodes(w.data[id*ps:(id+overflow+1)*ps], id, depth)
}

// nodes checks the elements of one page held in buf (a file page or an
// inline bucket's page).
func (w *walker) nodes(buf []byte, id uint64, depth int) error {
	le := binary.LittleEndian
	if len(buf) < pageHeaderSize {
		return fmt.Errorf("page %d: too short", id)
	}
	flags, count := le.Uint16(buf[8:]), int(le.Uint16(buf[10:]))
	if pageHeaderSize+count*elementSize > len(buf) {
		return fmt.Errorf("page %d: %d elements do not fit", id, count)
	}
	for i := 0; i < count; i++ {
		at := pageHeaderSize + i*elementSize
		e := buf[at : at+elementSize]
		switch flags {
		case branchFlag:
			pos, ksize := int(le.Uint32(e[0:])), int(le.Uint32(e[4:]))
			if at+pos+ksize > len(buf) || pos < 0 {
				return fmt.Errorf("page %d: element %d lies outside the page", id, i)
			}
			if err := w.page(le.Uint64(e[8:]), depth+1); err != nil {
				return err
			}
		case leafFlag:
			lflags, pos, ksize, vsize := le.Uint32(e[0:]), int(le.Uint32(e[4:])), int(le.Uint32(e[8:])), int(le.Uint32(e[12:]))
			end := at + pos + ksize + vsize
			if pos < 0 || end > len(buf) || end < at {
				return fmt.Errorf("page %d: element %d lies outside the page", id, i)
			}
			if lflags&bucketLeafFlag == 0 {
				continue
			}
			v := buf[at+pos+ksize : end]
			if len(v) < 16 {
				return fmt.Errorf("page %d: bucket header too short", id)
			}
			if root := le.Uint64(v); root != 0 {
				if err := w.page(root, depth+1); err != nil {
					return err
				}
			} else if err := w.nodes(v[16:], id, depth+1); err != nil { // inline bucket
				return err
			}
		default:
			return fmt.Errorf("page %d: not a tree page (flags %#x: zeroed or overwritten)", id, flags)
		}
	}
	return nil
}

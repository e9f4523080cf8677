package control

import (
	"encoding/json"
	"fmt"
	"sync"
)

// userMemoMax bounds the memo; a full memo drops an arbitrary entry, which
// only costs one decoding later.
const userMemoMax = 10_000

// userMemo remembers decoded user records by their exact stored bytes.
// Every write transaction starts with its actor's record, on the group
// committer that serialises all writes, and decoding JSON was a large part
// of it. The key is the content itself, so the memo needs no invalidation:
// a changed record (closed account, new role) has other bytes and is
// decoded afresh. User holds no slices, maps or pointers, so handing out
// copies shares nothing.
type userMemo struct {
	mu sync.Mutex
	m  map[string]User
}

func newUserMemo() *userMemo { return &userMemo{m: map[string]User{}} }

func (m *userMemo) decode(raw []byte) (User, error) {
	m.mu.Lock()
	u, ok := m.m[string(raw)] // no allocation for the lookup
	m.mu.Unlock()
	if ok {
		return u, nil
	}
	if err := json.Unmarshal(raw, &u); err != nil {
		return User{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.m) >= userMemoMax {
		for k := range m.m {
			delete(m.m, k)
			break
		}
	}
	m.m[string(raw)] = u
	return u, nil
}

// memoTx is a transaction that carries the service's user memo.
type memoTx interface {
	users() *userMemo
}

// decodeUser decodes a stored user record, through the memo when tx has one.
func decodeUser(tx Tx, id string, raw []byte) (User, error) {
	var u User
	var err error
	if mt, ok := tx.(memoTx); ok {
		u, err = mt.users().decode(raw)
	} else {
		err = json.Unmarshal(raw, &u)
	}
	if err != nil {
		return User{}, fmt.Errorf("decode %s/%s: %w", bUsers, id, err)
	}
	return u, nil
}

// Package state keeps the gateway's runtime state in a bbolt file: weights
// set by an operator or a plan, and the audit log of every change. Every
// write is committed and synced before the call returns, so a change that
// was acknowledged survives a crash or restart.
package state

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

var bucketEvents = []byte("events")

// RouteWeights are the weights set at runtime for one route. Backends is the
// route's backend list when they were set: if a reload changes it, the
// weights no longer apply.
type RouteWeights struct {
	Backends []string       `json:"backends"`
	Weights  map[string]int `json:"weights"`
}

// Event is one line of the audit log.
type Event struct {
	Seq    uint64          `json:"seq"`
	Time   time.Time       `json:"time"`
	Actor  string          `json:"actor"`
	Action string          `json:"action"`
	Target string          `json:"target,omitempty"`
	Reason string          `json:"reason,omitempty"`
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
}

// Store is the runtime state. It is safe for concurrent use.
type Store struct {
	db *bolt.DB

	mu      sync.Mutex    // guards changed
	changed chan struct{} // closed and replaced after each appended event
}

// Open opens or creates DIR/state.db. Only one process may hold it; a
// second one fails after a second instead of waiting forever.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating state dir: %w", err)
	}
	path := filepath.Join(dir, "state.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{[]byte(BucketWeights), bucketEvents} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("initialising %s: %w", path, err)
	}
	return &Store{db: db, changed: make(chan struct{})}, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// Buckets of runtime state.
const (
	BucketWeights = "weights"
	// BucketManagedRoutes holds the header routes a plan added to a route.
	BucketManagedRoutes = "managed-routes"
	// BucketRollouts holds each plan's position.
	BucketRollouts = "rollouts"
)

// Weights returns every route's runtime weights.
func (s *Store) Weights() (map[string]RouteWeights, error) {
	out := map[string]RouteWeights{}
	err := s.List(BucketWeights, func(key string, data []byte) error {
		var w RouteWeights
		if err := json.Unmarshal(data, &w); err != nil {
			return fmt.Errorf("route %s: %w", key, err)
		}
		out[key] = w
		return nil
	})
	return out, err
}

// SetWeights stores a route's weights and the event that records the change
// in one transaction. A nil w removes the route's runtime weights.
func (s *Store) SetWeights(route string, w *RouteWeights, ev Event) (Event, error) {
	if w == nil {
		return s.Put(BucketWeights, route, nil, ev)
	}
	return s.Put(BucketWeights, route, w, ev)
}

// Put stores value as JSON under bucket and key, and appends ev to the
// audit log, in one synced transaction. A nil value deletes the key.
func (s *Store) Put(bucket, key string, value any, ev Event) (Event, error) {
	var data []byte
	if value != nil {
		var err error
		if data, err = json.Marshal(value); err != nil {
			return ev, err
		}
	}
	return s.update(ev, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(bucket))
		if err != nil {
			return err
		}
		if data == nil {
			return b.Delete([]byte(key))
		}
		return b.Put([]byte(key), data)
	})
}

// Checkpoint stores value like Put but without an audit event: for progress
// that is not a change, such as the time left in a pause.
func (s *Store) Checkpoint(bucket, key string, value any) error {
	data, err := json.Marshal(value)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(bucket))
		if err != nil {
			return err
		}
		return b.Put([]byte(key), data)
	})
}

// List calls fn for every key of bucket, in key order.
func (s *Store) List(bucket string, fn func(key string, data []byte) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucket))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error { return fn(string(k), v) })
	})
}

// Append adds an event to the audit log.
func (s *Store) Append(ev Event) (Event, error) {
	return s.update(ev, nil)
}

func (s *Store) update(ev Event, fn func(*bolt.Tx) error) (Event, error) {
	err := s.db.Update(func(tx *bolt.Tx) error {
		if fn != nil {
			if err := fn(tx); err != nil {
				return err
			}
		}
		b := tx.Bucket(bucketEvents)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		ev.Seq = seq
		if ev.Time.IsZero() {
			ev.Time = time.Now().UTC()
		}
		data, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		return b.Put(seqKey(seq), data)
	})
	if err != nil {
		return ev, fmt.Errorf("writing state: %w", err)
	}
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	return ev, nil
}

// Changed returns a channel that is closed when the next event is appended.
// Followers read Events after it closes, so none is missed.
func (s *Store) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// Events returns up to limit events with Seq > after, oldest first. A
// limit of 0 or less means all.
func (s *Store) Events(after uint64, limit int) ([]Event, error) {
	var out []Event
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEvents).Cursor()
		for k, v := c.Seek(seqKey(after + 1)); k != nil; k, v = c.Next() {
			var ev Event
			if err := json.Unmarshal(v, &ev); err != nil {
				return err
			}
			out = append(out, ev)
			if limit > 0 && len(out) == limit {
				break
			}
		}
		return nil
	})
	return out, err
}

// LastEvents returns the newest n events, oldest first.
func (s *Store) LastEvents(n int) ([]Event, error) {
	var out []Event
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEvents).Cursor()
		for k, v := c.Last(); k != nil && len(out) < n; k, v = c.Prev() {
			var ev Event
			if err := json.Unmarshal(v, &ev); err != nil {
				return err
			}
			out = append(out, ev)
		}
		return nil
	})
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, err
}

func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, seq)
}

// TokenFile is where the admin token is kept in the state directory.
const TokenFile = "admin.token"

// LoadOrCreateToken returns the admin token in DIR/admin.token, creating it
// with mode 0600 on first start.
func LoadOrCreateToken(dir string) (string, error) {
	path := filepath.Join(dir, TokenFile)
	data, err := os.ReadFile(path)
	if err == nil {
		tok := strings.TrimSpace(string(data))
		if tok == "" {
			return "", fmt.Errorf("%s is empty", path)
		}
		return tok, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	buf := make([]byte, 32)
	rand.Read(buf)
	tok := hex.EncodeToString(buf)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("creating admin token: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteString(tok + "\n"); err != nil {
		return "", err
	}
	return tok, f.Sync()
}

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
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
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
	db   *bolt.DB
	path string
	opts Options

	mu      sync.Mutex    // guards changed
	changed chan struct{} // closed and replaced after each appended event

	dirty      atomic.Bool // written since the last backup
	stopBackup chan struct{}
	backupDone chan struct{}
	closeOnce  sync.Once
	closeErr   error
}

// Options say how to open the state and how much of the audit log to keep.
type Options struct {
	// Recover restores state.db from its backup, moving the file there
	// aside; Reset starts with no runtime state, moving it aside.
	Recover, Reset bool
	// MaxEvents and MaxEventAge bound the audit log: older events are
	// deleted as new ones come. 0: the defaults.
	MaxEvents   int
	MaxEventAge time.Duration
	// BackupInterval is how often a consistent copy of the state is written
	// to state.db.bak while it changes; one is also written at each clean
	// open. 0: the default.
	BackupInterval time.Duration
}

// Defaults of the audit log's retention and of backups.
const (
	DefaultMaxEvents      = 10000
	DefaultMaxEventAge    = 90 * 24 * time.Hour
	DefaultBackupInterval = 5 * time.Minute
)

// ErrLocked is returned when another process holds the state file.
var ErrLocked = errors.New("held by another process")

// Open opens or creates DIR/state.db with the default options.
func Open(dir string) (*Store, error) { return OpenWith(dir, Options{}) }

// OpenWith opens or creates DIR/state.db. Only one process may hold it; a
// second one fails after a second, saying so. A damaged or empty file is
// refused with what to do, never read as empty state; opts.Recover and
// opts.Reset move it aside.
func OpenWith(dir string, opts Options) (*Store, error) {
	if opts.MaxEvents <= 0 {
		opts.MaxEvents = DefaultMaxEvents
	}
	if opts.MaxEventAge <= 0 {
		opts.MaxEventAge = DefaultMaxEventAge
	}
	if opts.BackupInterval <= 0 {
		opts.BackupInterval = DefaultBackupInterval
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating state dir: %w", err)
	}
	path := filepath.Join(dir, "state.db")
	backup := path + ".bak"
	switch {
	case opts.Recover && opts.Reset:
		return nil, errors.New("--state-recover and --state-reset exclude each other")
	case opts.Recover:
		if err := checkFile(backup); err != nil {
			return nil, fmt.Errorf("cannot recover %s: its backup %s is not usable: %w", path, backup, err)
		}
		if err := moveAside(path); err != nil {
			return nil, err
		}
		if err := copyFile(backup, path); err != nil {
			return nil, fmt.Errorf("restoring %s from %s: %w", path, backup, err)
		}
	case opts.Reset:
		if err := moveAside(path); err != nil {
			return nil, err
		}
	default:
		if err := checkFile(path); err != nil {
			if errors.Is(err, ErrLocked) {
				return nil, fmt.Errorf("%s is %w: another cutover serve is running with this --state directory; stop it, or give this one a --state of its own", path, err)
			}
			return nil, damaged(path, backup, err)
		}
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("%s is %w: another cutover serve is running with this --state directory; stop it, or give this one a --state of its own", path, ErrLocked)
	}
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
	s := &Store{db: db, path: path, opts: opts, changed: make(chan struct{}), stopBackup: make(chan struct{}), backupDone: make(chan struct{})}
	if err := s.Backup(); err != nil {
		db.Close()
		return nil, err
	}
	go s.backupLoop()
	return s, nil
}

// damaged is the error for a state file that cannot be read: what is
// wrong, and what to do.
func damaged(path, backup string, cause error) error {
	what := "damaged"
	if fi, err := os.Stat(path); err == nil && fi.Size() == 0 {
		what = "empty (0 bytes)"
	}
	msg := fmt.Sprintf("state file %s is %s (%v): the runtime weights, plan positions and audit log it held cannot be read. ", path, what, cause)
	if fi, err := os.Stat(backup); err == nil && checkFile(backup) == nil {
		msg += fmt.Sprintf("Start with --state-recover to restore the backup %s (written %s), or with --state-reset to start with no runtime state", backup, fi.ModTime().UTC().Format(time.RFC3339))
	} else {
		msg += "There is no usable backup (" + backup + "); start with --state-reset to begin with no runtime state"
	}
	return errors.New(msg + "; either moves the damaged file aside.")
}

// checkFile checks that the bbolt file at path can be read, page by page.
// bbolt trusts its file: a damaged one makes it panic or fault on its
// memory map (SIGBUS past a truncated end), so the checks run with faults
// turned into panics, and on a copy, so that the damaged file is left as it
// was. A file that does not exist is fine: it will be created.
func checkFile(path string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Size() == 0 {
		return errors.New("no bbolt header")
	}
	// Is it held? A shared lock waits for another process's exclusive one.
	err = guarded(func() error {
		db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
		if errors.Is(err, bolt.ErrTimeout) {
			return ErrLocked
		}
		if err == nil {
			db.Close()
		}
		return err
	})
	if err != nil {
		return err
	}
	tmp := path + ".check"
	os.Remove(tmp)
	if err := copyFile(path, tmp); err != nil {
		return err
	}
	defer os.Remove(tmp)
	return guarded(func() error {
		db, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: time.Second})
		if err != nil {
			return err
		}
		defer db.Close()
		return db.View(func(tx *bolt.Tx) error {
			if tx.Size() > fi.Size() {
				return fmt.Errorf("truncated: %d bytes, its pages need %d", fi.Size(), tx.Size())
			}
			for err := range tx.Check() {
				return err
			}
			return nil
		})
	})
}

// guarded runs f with memory faults turned into panics, and a panic into
// an error.
func guarded(f func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("unreadable: %v", r)
		}
	}()
	return f()
}

// moveAside renames path to path.damaged-TIME, if it exists.
func moveAside(path string) error {
	aside := path + ".damaged-" + time.Now().UTC().Format("20060102T150405Z")
	if err := os.Rename(path, aside); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("moving %s aside: %w", path, err)
	}
	return nil
}

func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Backup writes a consistent copy of the state to state.db.bak, through a
// temporary file and a rename, so a crash never leaves a half backup.
func (s *Store) Backup() error {
	tmp := s.path + ".bak.tmp"
	s.dirty.Store(false)
	err := s.db.View(func(tx *bolt.Tx) error { return tx.CopyFile(tmp, 0o600) })
	if err == nil {
		err = os.Rename(tmp, s.path+".bak")
	}
	if err != nil {
		os.Remove(tmp)
		s.dirty.Store(true)
		return fmt.Errorf("backing up %s: %w", s.path, err)
	}
	return nil
}

func (s *Store) backupLoop() {
	defer close(s.backupDone)
	t := time.NewTicker(s.opts.BackupInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stopBackup:
			return
		case <-t.C:
			if s.dirty.Load() {
				s.Backup() // a failure leaves it dirty: the next tick tries again
			}
		}
	}
}

// Close writes a last backup and closes the file.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stopBackup)
		<-s.backupDone
		if s.dirty.Load() {
			s.Backup()
		}
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}

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
		if err := b.Put(seqKey(seq), data); err != nil {
			return err
		}
		if seq%pruneEvery == 0 {
			return s.prune(b, seq, ev.Time)
		}
		return nil
	})
	if err != nil {
		return ev, fmt.Errorf("writing state: %w", err)
	}
	s.dirty.Store(true)
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	return ev, nil
}

// pruneEvery is how many events go by between prunes of the audit log.
const pruneEvery = 32

// prune deletes the events beyond MaxEvents and those older than
// MaxEventAge, oldest first.
func (s *Store) prune(b *bolt.Bucket, last uint64, now time.Time) error {
	var old [][]byte
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		seq := binary.BigEndian.Uint64(k)
		if last-seq >= uint64(s.opts.MaxEvents) {
			old = append(old, k)
			continue
		}
		var ev struct {
			Time time.Time `json:"time"`
		}
		if json.Unmarshal(v, &ev) == nil && now.Sub(ev.Time) > s.opts.MaxEventAge {
			old = append(old, k)
			continue
		}
		break
	}
	for _, k := range old {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
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
	return s.EventsBefore(0, n)
}

// EventsBefore returns the newest n events with Seq < before (any Seq when
// before is 0), oldest first: one page of the log, going back.
func (s *Store) EventsBefore(before uint64, n int) ([]Event, error) {
	var out []Event
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEvents).Cursor()
		k, v := c.Last()
		if before > 0 {
			k, v = c.Seek(seqKey(before))
			if k == nil {
				k, v = c.Last()
			} else {
				k, v = c.Prev()
			}
		}
		for ; k != nil && len(out) < n; k, v = c.Prev() {
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

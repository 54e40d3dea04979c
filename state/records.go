package state

import "encoding/json"

// Records keeps values of one type as JSON under their names in a bucket,
// each change with its audit event: a plan's position, say, for
// rollout.Store, without this package knowing the type.
type Records[T any] struct {
	store  *Store
	bucket string
}

// NewRecords returns the records of bucket in s.
func NewRecords[T any](s *Store, bucket string) Records[T] {
	return Records[T]{store: s, bucket: bucket}
}

// Load reads the named value into v; found is false when there is none.
func (r Records[T]) Load(name string, v *T) (found bool, err error) {
	err = r.store.List(r.bucket, func(key string, data []byte) error {
		if key != name {
			return nil
		}
		found = true
		return json.Unmarshal(data, v)
	})
	return found, err
}

// Transition stores the named value and the event that records the change,
// in one synced transaction.
func (r Records[T]) Transition(name string, v *T, ev Event) error {
	_, err := r.store.Put(r.bucket, name, v, ev)
	return err
}

// Checkpoint stores the named value without an event.
func (r Records[T]) Checkpoint(name string, v *T) error {
	return r.store.Checkpoint(r.bucket, name, v)
}

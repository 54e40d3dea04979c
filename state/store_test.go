package state_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cutover-dev/cutover/state"
)

// The audit log keeps at most MaxEvents events, so thousands of weight
// changes do not grow the file without end.
func TestAuditRetentionByCount(t *testing.T) {
	dir := t.TempDir()
	s, err := state.OpenWith(dir, state.Options{MaxEvents: 200})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	set := func(n int) {
		for i := range n {
			w := &state.RouteWeights{Backends: []string{"a", "b"}, Weights: map[string]int{"a": i % 100, "b": 100 - i%100}}
			if _, err := s.SetWeights("web", w, state.Event{Actor: "t", Action: "weights.set", Target: "web", Reason: "a reason of some length, as operators write them"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	size := func() int64 {
		fi, err := os.Stat(filepath.Join(dir, "state.db"))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	set(1000)
	steady := size()
	set(3000)
	evs, err := s.Events(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) > 200+32 || len(evs) < 200 {
		t.Errorf("%d events kept, want about 200", len(evs))
	}
	if last := evs[len(evs)-1].Seq; last != 4000 {
		t.Errorf("newest event %d, want 4000", last)
	}
	if grown := size(); float64(grown) > 1.5*float64(steady) {
		t.Errorf("the file grew from %d to %d bytes between 1,000 and 4,000 changes", steady, grown)
	}
}

// Events older than MaxEventAge are deleted too.
func TestAuditRetentionByAge(t *testing.T) {
	s, err := state.OpenWith(t.TempDir(), state.Options{MaxEventAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	old := time.Now().Add(-2 * time.Hour)
	for range 40 {
		s.Append(state.Event{Time: old, Actor: "t", Action: "old"})
	}
	for range 40 {
		s.Append(state.Event{Actor: "t", Action: "new"})
	}
	evs, _ := s.Events(0, 0)
	for _, ev := range evs {
		if ev.Action == "old" {
			t.Fatalf("an event older than MaxEventAge is kept: %+v (%d events)", ev, len(evs))
		}
	}
	if len(evs) < 40 {
		t.Errorf("%d events left, want the 40 new ones", len(evs))
	}
}

// EventsBefore pages back through the log.
func TestEventsPaging(t *testing.T) {
	s, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for range 25 {
		s.Append(state.Event{Actor: "t", Action: "x"})
	}
	var seen []uint64
	before := uint64(0)
	for {
		page, err := s.EventsBefore(before, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for i := len(page) - 1; i >= 0; i-- {
			seen = append(seen, page[i].Seq)
		}
		before = page[0].Seq
	}
	if len(seen) != 25 || seen[0] != 25 || seen[24] != 1 {
		t.Fatalf("pages gave %v", seen)
	}
}

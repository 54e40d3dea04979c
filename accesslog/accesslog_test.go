package accesslog

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The file switches at midnight in its time zone, not in UTC.
func TestFileSwitchesAtMidnightInItsZone(t *testing.T) {
	dir := t.TempDir()
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	f := NewFile(filepath.Join(dir, "{YYYY}-{MM}{DD}", "access.log"), tokyo)
	l := New(16, f)
	// 14:59:59 UTC is 23:59:59 in Tokyo; a second later it is the next day there.
	before := time.Date(2026, 11, 22, 14, 59, 59, 0, time.UTC)
	l.Log(Line{At: before, Data: []byte(`{"n":1}`)})
	l.Log(Line{At: before.Add(time.Second), Data: []byte(`{"n":2}`)})
	l.Close()
	for day, want := range map[string]string{"2026-1122": `{"n":1}`, "2026-1123": `{"n":2}`} {
		data, err := os.ReadFile(filepath.Join(dir, day, "access.log"))
		if err != nil || string(data) != want+"\n" {
			t.Errorf("%s: %q %v", day, data, err)
		}
	}
}

func TestReopenAfterRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	l := New(16, NewFile(path, nil))
	now := time.Now()
	l.Log(Line{At: now, Data: []byte("before")})
	waitWritten(t, l, 1)
	os.Rename(path, path+".1") // logrotate moves the file away
	l.Reopen()
	l.Log(Line{At: now, Data: []byte("after")})
	l.Close()
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	if string(old) != "before\n" || string(cur) != "after\n" {
		t.Fatalf("rotated file %q, new file %q", old, cur)
	}
}

func waitWritten(t *testing.T, l *Logger, n int64) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); l.Stats()[0].Written < n; {
		if time.Now().After(deadline) {
			t.Fatal("lines not written")
		}
		time.Sleep(time.Millisecond)
	}
}

// stuck is a sink that blocks until released, like a full disk or a dead
// syslog daemon.
type stuck struct {
	release chan struct{}
	mu      sync.Mutex
	got     int
}

func (s *stuck) Name() string { return "stuck" }
func (s *stuck) Write(Line) error {
	<-s.release
	s.mu.Lock()
	s.got++
	s.mu.Unlock()
	return nil
}
func (s *stuck) Flush() error  { return nil }
func (s *stuck) Reopen() error { return nil }
func (s *stuck) Close() error  { return nil }

// A stuck sink never blocks Log; what does not fit is dropped and counted,
// and everything buffered is written on Close.
func TestSlowSinkDropsAndCounts(t *testing.T) {
	s := &stuck{release: make(chan struct{})}
	l := New(10, s)
	start := time.Now()
	for i := range 100 {
		l.Log(Line{At: start, Data: []byte(fmt.Sprint(i))})
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("Log blocked for %v", took)
	}
	close(s.release)
	l.Close()
	st := l.Stats()[0]
	if st.Written+st.Dropped != 100 || st.Dropped < 89 || int64(s.got) != st.Written {
		t.Fatalf("written %d, dropped %d, sink got %d", st.Written, st.Dropped, s.got)
	}
}

func TestSyslogRFC5424(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "log.sock")
	conn, err := net.ListenPacket("unixgram", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	l := New(4, NewSyslog(sock, "cutover", 16))
	l.Log(Line{At: time.Date(2026, 11, 23, 1, 2, 3, 456e6, time.UTC), Data: []byte(`{"status":200}`)})
	l.Close()
	buf := make([]byte, 4096)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := conn.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	msg := string(buf[:n])
	host, _ := os.Hostname()
	want := fmt.Sprintf(`<134>1 2026-11-23T01:02:03.456Z %s cutover %d - - {"status":200}`, host, os.Getpid())
	if msg != want {
		t.Fatalf("syslog message\n%s\nwant\n%s", msg, want)
	}
	if !strings.HasPrefix(msg, "<134>1 ") { // local0 (16) * 8 + info (6)
		t.Fatal("wrong priority")
	}
}

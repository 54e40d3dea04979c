package accesslog

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Line is one log line, JSON without the newline, and when it happened.
type Line struct {
	At   time.Time
	Data []byte
}

// Sink is where lines go. Write is called by the sink's own goroutine only.
type Sink interface {
	Name() string
	Write(Line) error
	// Flush pushes buffered lines out; Reopen reopens files (for external
	// rotation); Close ends the sink.
	Flush() error
	Reopen() error
	Close() error
}

// Logger fans lines out to sinks through bounded buffers.
type Logger struct {
	sinks []*queue
	wg    sync.WaitGroup

	// closed is set by Close, which runs once no request is in flight; the
	// line channels are never closed, so Log needs no lock.
	closed    atomic.Bool
	closeOnce sync.Once
	// OnError is told of a sink's write errors; nil ignores them.
	OnError func(sink string, err error)
}

type queue struct {
	sink    Sink
	lines   chan Line
	control chan func() error
	stop    chan struct{} // closed by Close: write what is queued, then end
	dropped atomic.Int64
	written atomic.Int64
}

// New starts a writer for each sink, each with room for buffer lines.
func New(buffer int, sinks ...Sink) *Logger {
	l := &Logger{}
	for _, s := range sinks {
		q := &queue{sink: s, lines: make(chan Line, buffer), control: make(chan func() error), stop: make(chan struct{})}
		l.sinks = append(l.sinks, q)
		l.wg.Add(1)
		go l.run(q)
	}
	return l
}

// Log hands a line to every sink; it never waits.
func (l *Logger) Log(line Line) {
	if l.closed.Load() {
		return
	}
	for _, q := range l.sinks {
		select {
		case q.lines <- line:
		default:
			q.dropped.Add(1)
		}
	}
}

// Stats are a sink's counts.
type Stats struct {
	Sink    string `json:"sink"`
	Written int64  `json:"written"`
	Dropped int64  `json:"dropped"`
}

// Stats returns every sink's counts.
func (l *Logger) Stats() []Stats {
	out := make([]Stats, len(l.sinks))
	for i, q := range l.sinks {
		out[i] = Stats{Sink: q.sink.Name(), Written: q.written.Load(), Dropped: q.dropped.Load()}
	}
	return out
}

// Reopen asks every sink to reopen its file, as after an external rotation.
func (l *Logger) Reopen() {
	if l.closed.Load() {
		return
	}
	for _, q := range l.sinks {
		select {
		case q.control <- q.sink.Reopen:
		case <-q.stop:
		}
	}
}

// Close writes every buffered line, then closes the sinks. Lines logged
// after it are ignored.
func (l *Logger) Close() {
	l.closeOnce.Do(func() {
		l.closed.Store(true)
		for _, q := range l.sinks {
			close(q.stop)
		}
	})
	l.wg.Wait()
}

func (l *Logger) run(q *queue) {
	defer l.wg.Done()
	flush := time.NewTicker(200 * time.Millisecond)
	defer flush.Stop()
	report := func(err error) {
		if err != nil && l.OnError != nil {
			l.OnError(q.sink.Name(), err)
		}
	}
	write := func(line Line) {
		if err := q.sink.Write(line); err != nil {
			report(err)
			q.dropped.Add(1)
		} else {
			q.written.Add(1)
		}
	}
	for {
		select {
		case line := <-q.lines:
			write(line)
		case <-q.stop:
			for len(q.lines) > 0 {
				write(<-q.lines)
			}
			report(q.sink.Flush())
			report(q.sink.Close())
			return
		case fn := <-q.control:
			report(q.sink.Flush())
			report(fn())
		case <-flush.C:
			report(q.sink.Flush())
		}
	}
}

// Writer is a sink over an io.Writer, such as standard output.
type Writer struct {
	name string
	w    *bufio.Writer
}

// NewWriter returns a sink writing to w.
func NewWriter(name string, w io.Writer) *Writer {
	return &Writer{name: name, w: bufio.NewWriterSize(w, 64<<10)}
}

func (s *Writer) Name() string { return s.name }
func (s *Writer) Write(l Line) error {
	s.w.Write(l.Data)
	return s.w.WriteByte('\n')
}
func (s *Writer) Flush() error  { return s.w.Flush() }
func (s *Writer) Reopen() error { return nil }
func (s *Writer) Close() error  { return s.w.Flush() }

// File is a sink whose path is a pattern of the line's date in a time
// zone: {YYYY}, {MM}, {DD} and {HH} are replaced, so
// "logs/{YYYY}-{MM}{DD}/access.log" switches files at midnight there.
type File struct {
	pattern string
	loc     *time.Location
	path    string
	f       *os.File
	w       *bufio.Writer
	// hourEnd is when the open file's hour ends; before it, lines need no
	// new path.
	hourEnd time.Time
}

// NewFile returns a file sink; loc nil means UTC.
func NewFile(pattern string, loc *time.Location) *File {
	if loc == nil {
		loc = time.UTC
	}
	return &File{pattern: pattern, loc: loc}
}

// PathAt is the file a line written at t goes to.
func (s *File) PathAt(t time.Time) string {
	t = t.In(s.loc)
	return strings.NewReplacer(
		"{YYYY}", strconv.Itoa(t.Year()),
		"{MM}", fmt.Sprintf("%02d", int(t.Month())),
		"{DD}", fmt.Sprintf("%02d", t.Day()),
		"{HH}", fmt.Sprintf("%02d", t.Hour()),
	).Replace(s.pattern)
}

func (s *File) Name() string { return "file:" + s.pattern }

func (s *File) Write(l Line) error {
	if s.f == nil || !l.At.Before(s.hourEnd) {
		if path := s.PathAt(l.At); path != s.path || s.f == nil {
			if err := s.open(path); err != nil {
				return err
			}
		}
		t := l.At.In(s.loc)
		s.hourEnd = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), 0, 0, 0, s.loc).Add(time.Hour)
	}
	s.w.Write(l.Data)
	return s.w.WriteByte('\n')
}

func (s *File) open(path string) error {
	s.Close()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	s.path, s.f, s.w = path, f, bufio.NewWriterSize(f, 64<<10)
	return nil
}

func (s *File) Flush() error {
	if s.w == nil {
		return nil
	}
	return s.w.Flush()
}

// Reopen closes the file; the next line opens it again, as after logrotate
// moved it away.
func (s *File) Reopen() error {
	err := s.Close()
	s.path = ""
	return err
}

func (s *File) Close() error {
	if s.f == nil {
		return nil
	}
	err := s.w.Flush()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	s.f, s.w = nil, nil
	return err
}

// Syslog is a sink sending RFC 5424 messages to a unix datagram socket, as
// fluent-bit's syslog input reads them.
type Syslog struct {
	socket, tag, host string
	facility          int
	conn              net.Conn
}

// NewSyslog returns a syslog sink; facility is 16 for local0.
func NewSyslog(socket, tag string, facility int) *Syslog {
	host, _ := os.Hostname()
	return &Syslog{socket: socket, tag: tag, host: host, facility: facility}
}

func (s *Syslog) Name() string { return "syslog:" + s.socket }

func (s *Syslog) Write(l Line) error {
	if s.conn == nil {
		c, err := net.Dial("unixgram", s.socket)
		if err != nil {
			return err
		}
		s.conn = c
	}
	// <PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG; severity 6 (info).
	msg := fmt.Appendf(nil, "<%d>1 %s %s %s %d - - ", s.facility*8+6, l.At.UTC().Format("2006-01-02T15:04:05.000Z"), s.host, s.tag, os.Getpid())
	msg = append(msg, l.Data...)
	if _, err := s.conn.Write(msg); err != nil {
		s.conn.Close()
		s.conn = nil
		return err
	}
	return nil
}

func (s *Syslog) Flush() error  { return nil }
func (s *Syslog) Reopen() error { return s.Close() }
func (s *Syslog) Close() error {
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}

var (
	_ Sink = (*Writer)(nil)
	_ Sink = (*File)(nil)
	_ Sink = (*Syslog)(nil)
)

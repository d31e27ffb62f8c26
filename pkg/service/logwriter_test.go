package service

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
)

// gatedWriter blocks every Write until its gate is opened, as a file or
// pipe whose kernel side stalls.
type gatedWriter struct {
	gate    chan struct{}
	entered chan struct{} // a Write has started
	once    sync.Once
	mu      sync.Mutex
	b       bytes.Buffer
}

func newGatedWriter() *gatedWriter {
	return &gatedWriter{gate: make(chan struct{}), entered: make(chan struct{})}
}

func (g *gatedWriter) Write(p []byte) (int, error) {
	g.once.Do(func() { close(g.entered) })
	<-g.gate
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.b.Write(p)
}

func (g *gatedWriter) Sync() error { return nil }

func (g *gatedWriter) String() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.b.String()
}

func line(i int) []byte { return fmt.Appendf(nil, "line %04d\n", i) }

// TestLogWriterDoesNotWaitForAStalledWrite: while the writer goroutine is
// stuck writing one batch, lines keep being accepted, up to the bound;
// once the write goes through, every line arrives, in order.
func TestLogWriterDoesNotWaitForAStalledWrite(t *testing.T) {
	out := newGatedWriter()
	w := newLogWriter(out, 100, time.Hour)
	n := 0
	for ; n < 10; n++ { // 100 bytes: the writer goroutine takes them
		w.Write(line(n))
	}
	select {
	case <-out.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the writer goroutine never wrote the first full buffer")
	}
	// The write is stalled. Below the bound (8 × 100 bytes), Write
	// returns: this loop would hang otherwise.
	for ; n < 80; n++ {
		w.Write(line(n))
	}
	// Past the bound, Write waits for the stalled write.
	wrote := make(chan struct{})
	from := n
	n += 20
	go func() {
		for i := from; i < from+20; i++ {
			w.Write(line(i))
		}
		close(wrote)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		w.mu.Lock()
		waiting := len(w.buf)
		w.mu.Unlock()
		if waiting+len(line(0)) > w.max {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes wait; the writer should fill the buffer to its bound %d", waiting, w.max)
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case <-wrote:
		t.Fatal("Write went past the bound while the write was stalled")
	default:
	}
	close(out.gate)
	<-wrote
	if err := w.Stop(); err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	for i := range n {
		want.Write(line(i))
	}
	if got := out.String(); got != want.String() {
		t.Errorf("wrote\n%s\nwant\n%s", got, want.String())
	}
}

// TestLogWriterSyncAndStop: Sync writes what waits at once (the error
// path); after Stop, a line is written straight away.
func TestLogWriterSyncAndStop(t *testing.T) {
	var out lockedBuffer
	w := newLogWriter(zapcore.AddSync(&out), 1<<20, time.Hour)
	w.Write(line(1))
	if got := out.String(); got != "" {
		t.Fatalf("a line below the buffer size was written before the interval: %q", got)
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != string(line(1)) {
		t.Fatalf("after Sync: %q", got)
	}
	if err := w.Stop(); err != nil {
		t.Fatal(err)
	}
	w.Write(line(2))
	if got := out.String(); got != string(line(1))+string(line(2)) {
		t.Fatalf("a line after Stop: %q", got)
	}
	if err := w.Stop(); err != nil {
		t.Fatalf("a second Stop: %v", err)
	}
}

// TestLogWriterConcurrent: lines from many goroutines all arrive whole.
func TestLogWriterConcurrent(t *testing.T) {
	var out lockedBuffer
	w := newLogWriter(zapcore.AddSync(&out), 64, time.Millisecond)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				w.Write(line(g*1000 + i))
			}
		})
	}
	wg.Wait()
	if err := w.Stop(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, l := range bytes.Split(bytes.TrimSuffix([]byte(out.String()), []byte("\n")), []byte("\n")) {
		seen[string(l)] = true
	}
	for g := range 8 {
		for i := range 500 {
			if l := string(bytes.TrimSuffix(line(g*1000+i), []byte("\n"))); !seen[l] {
				t.Fatalf("%q is missing", l)
			}
		}
	}
	if len(seen) != 8*500 {
		t.Errorf("%d distinct lines, want %d", len(seen), 8*500)
	}
}

// TestLogWriterWritesALoneLine: a line with nothing after it is written
// once the interval has passed, and a second batch after an idle spell
// is too: the writer goroutine does not wait for the buffer to fill.
func TestLogWriterWritesALoneLine(t *testing.T) {
	var out lockedBuffer
	w := newLogWriter(zapcore.AddSync(&out), 1<<20, 10*time.Millisecond)
	defer w.Stop()
	for i, want := range []string{string(line(1)), string(line(1)) + string(line(2))} {
		w.Write(line(i + 1))
		deadline := time.Now().Add(10 * time.Second)
		for out.String() != want {
			if time.Now().After(deadline) {
				t.Fatalf("batch %d: after 10s the output holds %q", i+1, out.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond) // idle
	}
}

// TestLogWriterSyncsAPipe: stdout is often a pipe, which cannot be synced;
// Sync still succeeds once the lines are written to it.
func TestLogWriterSyncsAPipe(t *testing.T) {
	r, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w := newLogWriter(pw, 1<<20, time.Hour)
	w.Write(line(1))
	if err := w.Sync(); err != nil {
		t.Errorf("Sync to a pipe: %v", err)
	}
	if err := w.Stop(); err != nil {
		t.Errorf("Stop on a pipe: %v", err)
	}
	pw.Close()
	got, _ := io.ReadAll(r)
	if string(got) != string(line(1)) {
		t.Errorf("the pipe got %q", got)
	}
}

//go:build linux

package service

import (
	"os"
	"strings"
	"testing"

	"go.uber.org/zap/zapcore"
	"golang.org/x/sys/unix"
)

// TestNewLoggerGrowsItsPipe: a logger writing into a pipe (a container's
// stdout) gives the pipe room for four batches of lines, and still writes
// through it; a regular file is left as it is.
func TestNewLoggerGrowsItsPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if size := pipeSize(t, w); size >= pipeBuffer {
		t.Fatalf("a new pipe holds %d bytes already; the test needs one smaller than %d", size, pipeBuffer)
	}
	log, flush := NewLogger(w, "svc", "test", "v1", zapcore.InfoLevel)
	if size := pipeSize(t, w); size != pipeBuffer {
		t.Errorf("pipe holds %d bytes after NewLogger, want %d", size, pipeBuffer)
	}
	log.Info("through the pipe")
	flush()
	w.Close()
	b := make([]byte, 4096)
	n, _ := r.Read(b)
	if want := `"msg":"through the pipe"`; !strings.Contains(string(b[:n]), want) {
		t.Errorf("read %q, want a line with %s", b[:n], want)
	}

	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, flushFile := NewLogger(f, "svc", "test", "v1", zapcore.InfoLevel) // must not fail on a file
	flushFile()
}

func pipeSize(t *testing.T, f *os.File) int {
	t.Helper()
	size, err := unix.FcntlInt(f.Fd(), unix.F_GETPIPE_SZ, 0)
	if err != nil {
		t.Fatal(err)
	}
	return size
}

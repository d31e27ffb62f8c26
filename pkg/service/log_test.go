package service

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestLoggerFlushesErrorsAndOnStop: an error line goes out at once with the
// lines before it, and the flush function writes whatever is buffered.
func TestLoggerFlushesErrorsAndOnStop(t *testing.T) {
	var out lockedBuffer
	log, flush := NewLogger(&out, "svc", "test", "v1", zapcore.InfoLevel)
	log.Debug("below the level")
	log.Info("first", zap.Int("n", 1))
	log.Error("failed", zap.String("why", "disk full"))
	got := out.String()
	if !strings.Contains(got, `"msg":"first"`) || !strings.Contains(got, `"msg":"failed"`) {
		t.Fatalf("after an error line the writer holds %q; want both lines", got)
	}
	if strings.Index(got, `"msg":"first"`) > strings.Index(got, `"msg":"failed"`) {
		t.Errorf("lines out of order: %q", got)
	}
	log.Info("last")
	flush()
	got = out.String()
	if !strings.Contains(got, `"msg":"last"`) || strings.Contains(got, "below the level") {
		t.Errorf("after flush the writer holds %q", got)
	}
	for _, want := range []string{`"service":"svc"`, `"env":"test"`, `"version":"v1"`, `"time":"`} {
		if !strings.Contains(got, want) {
			t.Errorf("lines lack %s: %q", want, got)
		}
	}
	if strings.Contains(got, `"caller"`) {
		t.Errorf("lines carry a caller annotation: %q", got)
	}
}

package service

import (
	"bytes"
	"io"
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

// BenchmarkLogLine is the cost of one access-log line through NewLogger's
// logger (buffered, to io.Discard): the unit of what logging adds to a
// request.
func BenchmarkLogLine(b *testing.B) {
	log, flush := NewLogger(io.Discard, "model-service", "bench", "v1", zapcore.InfoLevel)
	defer flush()
	b.ReportAllocs()
	for b.Loop() {
		log.Info("request",
			zap.String("request_id", "0123456789abcdef0123456789abcdef"), zap.String("method", "POST"),
			zap.String("route", "/predict"), zap.String("uri", "/predict"), zap.Int("status", 200),
			zap.Duration("latency_ms", 12345), zap.Int64("bytes_in", 60), zap.Int64("bytes_out", 120),
			zap.String("remote", "127.0.0.1"))
	}
}

package service

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/buffer"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// throughZap is log with its fast path hidden: the same core, reached
// through zap's general path.
func throughZap(log *zap.Logger) *zap.Logger {
	return log.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return struct{ zapcore.Core }{c} }))
}

var lineTime = regexp.MustCompile(`"time":"([^"]*)"`)

// TestLinesMatchZap: the fast path writes, byte for byte, the line zap
// writes for the same event (the time aside, which each takes itself):
// strings that need escaping (quotes, backslashes, control characters,
// invalid UTF-8, multi-byte characters), durations, integers, raw JSON,
// and the context of a logger made With more fields.
func TestLinesMatchZap(t *testing.T) {
	strs := []string{
		"", "/predict", `/predict?q="quoted"&back=\slash`, "tab\tnew\nline\rcr", "\x00\x01\x1f\x7f",
		"caf\u00e9 \u2603 \U0001f427", "bad \xff utf-8 \xc3", "</script>&<>", strings.Repeat("long/", 300),
	}
	durations := []time.Duration{0, 1, 1500 * time.Microsecond, 3*time.Second + 7, -time.Millisecond}
	ints := []int64{0, -1, 1 << 40}

	var out lockedBuffer
	base, flush := NewLogger(&out, "model-service", "test", "v\"1", zapcore.InfoLevel)
	defer flush()
	for _, log := range []*zap.Logger{base, base.With(zap.String("listener", "metrics"), zap.Int("n", 2), zap.Duration("d_ms", time.Second), zap.Time("since", time.Date(2026, 12, 2, 17, 0, 0, 5, time.UTC)))} {
		lines := LinesFor(log)
		if lines == nil {
			t.Fatal("LinesFor returned nil for NewLogger's logger")
		}
		for i, s := range strs {
			d, n := durations[i%len(durations)], ints[i%len(ints)]
			raw := rawString(s)
			throughZap(log).Info(s, zap.String(s, s), zap.Duration("latency_ms", d), zap.Int64("n", n), zap.Reflect("raw", raw))
			lines.Info(s).Str(NewKey(s), s).Millis(NewKey("latency_ms"), d).Int(NewKey("n"), n).Raw(NewKey("raw"), raw).Write()
		}
	}
	if err := base.Sync(); err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if want := 2 * 2 * len(strs); len(got) != want {
		t.Fatalf("%d lines, want %d:\n%s", len(got), want, out.String())
	}
	for i := 0; i < len(got); i += 2 {
		viaZap, viaLines := got[i], got[i+1]
		for _, l := range []string{viaZap, viaLines} {
			m := lineTime.FindStringSubmatch(l)
			if m == nil {
				t.Fatalf("no time in %s", l)
			}
			if _, err := time.Parse(time.RFC3339Nano, m[1]); err != nil {
				t.Errorf("time %q: %v", m[1], err)
			}
			if !json.Valid([]byte(l)) {
				t.Errorf("not JSON: %s", l)
			}
		}
		viaZap, viaLines = lineTime.ReplaceAllString(viaZap, `"time":""`), lineTime.ReplaceAllString(viaLines, `"time":""`)
		if viaZap != viaLines {
			t.Errorf("lines differ:\nzap:   %s\nlines: %s", viaZap, viaLines)
		}
	}
}

// rawString is a RawJSON value: a JSON string of s, made by encoding/json.
type rawString string

func (r rawString) AppendRawJSON(b *buffer.Buffer) {
	j, _ := json.Marshal(string(r))
	b.AppendBytes(j)
}

func (r rawString) MarshalJSON() ([]byte, error) { return json.Marshal(string(r)) }

// TestLinesForOnlyNewLoggers: a logger that is not NewLogger's (an
// observer, a wrapped core), that is named, or that writes nothing at info
// has no fast path, so its events go through zap, where observers see them
// (and a logger at warn drops them).
func TestLinesForOnlyNewLoggers(t *testing.T) {
	log, flush := NewLogger(&lockedBuffer{}, "svc", "test", "v1", zapcore.InfoLevel)
	defer flush()
	warn, flushWarn := NewLogger(&lockedBuffer{}, "svc", "test", "v1", zapcore.WarnLevel)
	defer flushWarn()
	core, _ := observer.New(zapcore.InfoLevel)
	for name, l := range map[string]*zap.Logger{
		"observer": zap.New(core), "wrapped": throughZap(log), "named": log.Named("sub"), "nop": zap.NewNop(), "at warn": warn,
	} {
		if LinesFor(l) != nil {
			t.Errorf("%s: LinesFor gave a fast path", name)
		}
	}
}

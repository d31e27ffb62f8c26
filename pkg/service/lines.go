package service

import (
	"bytes"
	"math"
	"slices"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"
	"go.uber.org/zap/buffer"
	"go.uber.org/zap/zapcore"
)

// Lines writes the request path's info-level events (the access line, the
// prediction events) straight into the output of a logger made by
// NewLogger, as the same JSON that zap's encoder writes for them: level,
// time, message, the logger's context fields, then the event's own.
//
// It exists for speed alone. zap's general path (a checked entry, a cloned
// encoder, a field at a time through interfaces) cost a fifth of the
// service's single-record throughput for three lines a request; these
// lines cost a third of that. Everything else, and any event at warn or
// above, goes through zap. TestLinesMatchZap holds the two to the same
// output.
type Lines struct {
	w   *logWriter
	ctx []byte // the context fields, encoded: `"service":"…",…`
}

// LinesFor returns the fast path of log, or nil when log is not one of
// NewLogger's (a test's observer, a wrapped core) or is named: callers
// then log through zap, which gives the same line. It is nil too when
// log's level is above info (NewLogger's level is fixed), so callers
// need not ask.
func LinesFor(log *zap.Logger) *Lines {
	c, ok := log.Core().(*flushOnError)
	if !ok || log.Name() != "" || c.ctx == nil || !c.Enabled(zapcore.InfoLevel) {
		return nil
	}
	return &Lines{w: c.w, ctx: c.ctx}
}

// linesPool holds the lines' buffers, as zap's pool holds its encoders'.
var linesPool = buffer.NewPool()

// Event is one of the request path's info-level events: its message and
// the logger's context, encoded once, so that a line encodes only its time
// and fields.
type Event struct {
	w    *logWriter
	head string // `,"msg":"…",<context>`
}

// Event returns the event with message msg.
func (l *Lines) Event(msg string) *Event {
	b := linesPool.Get()
	defer b.Free()
	b.AppendString(`,"msg":`)
	appendJSONString(b, msg)
	if len(l.ctx) > 0 {
		b.AppendByte(',')
		b.AppendBytes(l.ctx)
	}
	return &Event{w: l.w, head: b.String()}
}

// Info starts a line of the event with message msg, at the present time.
// Finish it with Write. On the request path, make the Event once instead.
func (l *Lines) Info(msg string) Line { return l.Event(msg).At(time.Now()) }

// At starts a line of the event, logged at t (the caller's time.Now,
// which it may have read for another purpose). Finish it with Write.
func (e *Event) At(t time.Time) Line {
	b := linesPool.Get()
	b.AppendString(`{"level":"info","time":"`)
	b.AppendTime(t, time.RFC3339Nano)
	b.AppendByte('"')
	b.AppendString(e.head)
	return Line{b: b, w: e.w}
}

// Key is a field's key, encoded once (`,"name":`), so that writing a line
// escapes only its values.
type Key struct{ enc string }

// NewKey encodes name as a field's key.
func NewKey(name string) Key {
	b := linesPool.Get()
	defer b.Free()
	b.AppendByte(',')
	appendJSONString(b, name)
	b.AppendByte(':')
	return Key{b.String()}
}

// Line is one line being written. Its methods add fields in order.
type Line struct {
	b *buffer.Buffer
	w *logWriter
}

// Str adds a string field.
func (ln Line) Str(k Key, v string) Line {
	ln.b.AppendString(k.enc)
	appendJSONString(ln.b, v)
	return ln
}

// Int adds an integer field.
func (ln Line) Int(k Key, v int64) Line {
	ln.b.AppendString(k.enc)
	ln.b.AppendInt(v)
	return ln
}

// Millis adds a duration as float milliseconds, as NewLogger's encoder
// writes durations.
func (ln Line) Millis(k Key, d time.Duration) Line {
	ln.b.AppendString(k.enc)
	appendJSONFloat(ln.b, float64(d)/1e6)
	return ln
}

// Raw adds a field whose value writes its own JSON (as with zap.Reflect
// through NewLogger).
func (ln Line) Raw(k Key, v RawJSON) Line {
	ln.b.AppendString(k.enc)
	v.AppendRawJSON(ln.b)
	return ln
}

// Write ends the line and hands it to the logger's writer.
func (ln Line) Write() {
	ln.b.AppendString("}\n")
	_, _ = ln.w.Write(ln.b.Bytes())
	ln.b.Free()
}

// appendJSONFloat writes f as zap's JSON encoder does: NaN and infinities
// as strings, anything else in the shortest 'f' form.
func appendJSONFloat(b *buffer.Buffer, f float64) {
	switch {
	case math.IsNaN(f):
		b.AppendString(`"NaN"`)
	case math.IsInf(f, 1):
		b.AppendString(`"+Inf"`)
	case math.IsInf(f, -1):
		b.AppendString(`"-Inf"`)
	default:
		b.AppendFloat(f, 64)
	}
}

// appendJSONString writes s as a quoted JSON string, escaped as zap's JSON
// encoder escapes it: quote, backslash, \n, \r and \t by name, other
// control characters as \u00XX, invalid UTF-8 as \ufffd, anything else as
// it is.
func appendJSONString(b *buffer.Buffer, s string) {
	b.AppendByte('"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b.AppendString(s[start:i])
				b.AppendString(`\ufffd`)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		b.AppendString(s[start:i])
		switch c {
		case '"', '\\':
			b.AppendByte('\\')
			b.AppendByte(c)
		case '\n':
			b.AppendString(`\n`)
		case '\r':
			b.AppendString(`\r`)
		case '\t':
			b.AppendString(`\t`)
		default:
			b.AppendString(`\u00`)
			b.AppendByte(hexDigits[c>>4])
			b.AppendByte(hexDigits[c&0xf])
		}
		i++
		start = i
	}
	b.AppendString(s[start:])
	b.AppendByte('"')
}

const hexDigits = "0123456789abcdef"

// appendContext is the context of a core whose context was ctx, after
// With(fields), encoded as NewLogger's encoder writes it into a line:
// `"service":"model-service",…`. It is nil (no fast path) when ctx is, or
// when the fields cannot be encoded.
func appendContext(ctx []byte, fields []zapcore.Field) []byte {
	if ctx == nil {
		return nil
	}
	cfg := encoderConfig()
	cfg.LevelKey, cfg.TimeKey, cfg.MessageKey, cfg.NameKey, cfg.CallerKey, cfg.FunctionKey, cfg.StacktraceKey = "", "", "", "", "", "", ""
	cfg.SkipLineEnding = true
	buf, err := zapcore.NewJSONEncoder(cfg).EncodeEntry(zapcore.Entry{}, fields)
	if err != nil {
		return nil
	}
	defer buf.Free()
	more := bytes.TrimSuffix(bytes.TrimPrefix(buf.Bytes(), []byte("{")), []byte("}"))
	if len(ctx) > 0 && len(more) > 0 {
		ctx = append(slices.Clip(ctx), ',')
	}
	return append(slices.Clip(ctx), more...)
}

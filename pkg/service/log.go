package service

import (
	"encoding/json"
	"io"
	"os"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/buffer"
	"go.uber.org/zap/zapcore"
)

// Log buffering: lines are written to stdout in batches, by a goroutine of
// the logger's own (logWriter), LogFlushInterval after the first line of a
// batch or as soon as LogBufferSize bytes are waiting. An error line and
// everything before it is written at once. A graceful stop flushes
// everything; a crash (SIGKILL, an OOM kill, a runtime fatal error) loses
// the lines of the last LogFlushInterval at most, unless the output had
// stalled (then what waits: up to 8 × LogBufferSize, and the batch being
// written).
const (
	LogFlushInterval = 100 * time.Millisecond
	LogBufferSize    = 256 << 10

	// pipeBuffer is the room growPipe gives a pipe the logs go into:
	// four batches.
	pipeBuffer = 4 * LogBufferSize
)

// NewLogger returns a JSON logger to w at level, tagged with the service
// name, environment and version, and the function that flushes it and
// stops its flusher; call that once, before exit.
//
// It is built for the request path: no caller annotation (every event has
// a distinct message, and unwinding the stack on every line cost more than
// a prediction), no write syscall per line, no request waiting for a
// write to finish, no batch waiting for a pipe's reader where it can be
// helped (growPipe), and a fast path for the request path's own info
// lines (LinesFor).
func NewLogger(w io.Writer, service, env, version string, level zapcore.Level) (*zap.Logger, func()) {
	if f, ok := w.(*os.File); ok {
		growPipe(f)
	}
	ws := newLogWriter(zapcore.AddSync(w), LogBufferSize, LogFlushInterval)
	core := &flushOnError{zapcore.NewCore(zapcore.NewJSONEncoder(encoderConfig()), ws, level), ws, []byte{}}
	log := zap.New(core, zap.ErrorOutput(zapcore.Lock(os.Stderr))).
		With(zap.String("service", service), zap.String("env", env), zap.String("version", version))
	return log, func() { _ = ws.Stop() }
}

// encoderConfig is NewLogger's JSON encoding, which Lines writes too.
func encoderConfig() zapcore.EncoderConfig {
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "time"
	enc.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	// Durations as float milliseconds; fields carrying them end in _ms.
	enc.EncodeDuration = func(d time.Duration, pe zapcore.PrimitiveArrayEncoder) { pe.AppendFloat64(float64(d) / 1e6) }
	enc.NewReflectedEncoder = newRawEncoder
	return enc
}

// flushOnError writes an entry at error level or above, and every line
// buffered before it, straight away: the lines that explain a failure must
// not wait for the next flush, nor be lost if the failure is fatal. It
// writes them to the kernel, which keeps them if the process dies, and
// does not fsync: a burst of failing requests must not queue on the disk.
// (Used as a pointer, so that adding it to a CheckedEntry allocates
// nothing.)
type flushOnError struct {
	zapcore.Core
	w   *logWriter
	ctx []byte // the context fields as encoded for Lines; nil: no fast path
}

func (c *flushOnError) With(fields []zapcore.Field) zapcore.Core {
	return &flushOnError{c.Core.With(fields), c.w, appendContext(c.ctx, fields)}
}

func (c *flushOnError) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(ent.Level) {
		return ce.AddCore(ent, c)
	}
	return ce
}

func (c *flushOnError) Write(ent zapcore.Entry, fields []zapcore.Field) error {
	if err := c.Core.Write(ent, fields); err != nil {
		return err
	}
	if ent.Level >= zapcore.ErrorLevel {
		return c.w.flush()
	}
	return nil
}

// RawJSON is a log field value that writes its own JSON into the line,
// for values on the request path too large to go through reflection or
// zap's per-element encoding (a batch's prediction record). Log it with
// zap.Reflect. What it appends must be one valid JSON value; it should
// also implement json.Marshaler, for loggers other than NewLogger's.
type RawJSON interface {
	AppendRawJSON(b *buffer.Buffer)
}

// rawEncoder is the logger's reflected encoder: RawJSON values append
// themselves, anything else goes through encoding/json as usual.
type rawEncoder struct {
	w    io.Writer
	buf  *buffer.Buffer // w, when it is zap's buffer (it always is)
	json *json.Encoder
}

func newRawEncoder(w io.Writer) zapcore.ReflectedEncoder {
	buf, _ := w.(*buffer.Buffer)
	return &rawEncoder{w: w, buf: buf}
}

func (e *rawEncoder) Encode(v any) error {
	if r, ok := v.(RawJSON); ok && e.buf != nil {
		r.AppendRawJSON(e.buf)
		return nil
	}
	if e.json == nil {
		e.json = json.NewEncoder(e.w)
		e.json.SetEscapeHTML(false) // as zap's default
	}
	return e.json.Encode(v)
}

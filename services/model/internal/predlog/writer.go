package predlog

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/penguins"
)

// File is where a log file's bytes go: an *os.File, or in tests a sink
// that blocks or fails.
type File interface {
	io.Writer
	Sync() error
	Close() error
}

// Options configure a Writer.
type Options struct {
	Dir      string
	MaxBytes int64 // a file is finished before a line would take it past this
	// Buffer bounds the records waiting for the writer goroutine; beyond
	// it, records are dropped and counted. Default DefaultBuffer.
	Buffer int
	// Create opens a new file for writing; default os.OpenFile with
	// O_CREATE|O_EXCL.
	Create func(path string) (File, error)
	// Now is the clock for file names; default time.Now.
	Now func() time.Time
}

// DefaultBuffer is the default bound on records waiting to be written:
// more than one request of the default MODEL_MAX_ROWS.
const DefaultBuffer = 1 << 17

// maxBatches bounds the requests waiting to be written, whatever their
// size.
const maxBatches = 4096

// flushBytes is how much encoded text the writer gathers before writing.
const flushBytes = 64 << 10

// Writer appends scored records to the log. Log never blocks: it copies the
// records into a pooled batch and hands it to one writer goroutine, which
// encodes, writes and rotates. Close finishes the log.
type Writer struct {
	opt Options
	log *zap.Logger

	ch      chan *batch
	pending atomic.Int64 // records in ch
	closed  atomic.Bool
	stop    chan struct{}
	done    chan struct{}
	pool    sync.Pool // *batch

	written, dropped, failed atomic.Uint64

	// Owned by the writer goroutine.
	f            File
	path         string // of f, ending in PartialSuffix
	size         int64  // bytes written to f
	seq          int
	buf, line    []byte
	head, middle []byte // of the batch being encoded
	closeErr     error
}

// batch is one request's records, copied off the request path.
type batch struct {
	time                  time.Time
	id, endpoint, version string
	inputs                []massmodel.Input
	fit, lower, upper     []float64
}

// maxPooled bounds the records of a batch kept for reuse, so that one huge
// request does not pin its memory.
const maxPooled = 1024

// Open finishes any partial files a crash left in opt.Dir (creating the
// directory if need be) and starts the writer goroutine. The first file is
// created with the first record.
func Open(log *zap.Logger, opt Options) (*Writer, error) {
	if opt.MaxBytes < 1 {
		return nil, fmt.Errorf("prediction log: max bytes %d, want at least 1", opt.MaxBytes)
	}
	if opt.Buffer < 1 {
		opt.Buffer = DefaultBuffer
	}
	if opt.Create == nil {
		opt.Create = func(path string) (File, error) {
			return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		}
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if err := os.MkdirAll(opt.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("prediction log: %w", err)
	}
	if err := Recover(log, opt.Dir); err != nil {
		return nil, err
	}
	w := &Writer{opt: opt, log: log, ch: make(chan *batch, maxBatches), stop: make(chan struct{}), done: make(chan struct{})}
	w.pool.New = func() any { return new(batch) }
	go w.run()
	return w, nil
}

// Recover finishes the partial files in dir: those a crash left behind.
// Each is synced and renamed as it stands; a torn last line is left for the
// reader to skip.
func Recover(log *zap.Logger, dir string) error {
	names, err := Files(dir)
	if err != nil {
		return fmt.Errorf("prediction log: %w", err)
	}
	n := 0
	for _, name := range names {
		if !strings.HasSuffix(name, PartialSuffix) {
			continue
		}
		p := filepath.Join(dir, name)
		if err := syncFile(p); err != nil {
			return fmt.Errorf("prediction log: recovering %s: %w", name, err)
		}
		if err := os.Rename(p, strings.TrimSuffix(p, ".partial")); err != nil {
			return fmt.Errorf("prediction log: recovering %s: %w", name, err)
		}
		log.Info("prediction log file recovered", zap.String("file", strings.TrimSuffix(name, ".partial")))
		n++
	}
	if n > 0 {
		return syncDir(dir)
	}
	return nil
}

// Log hands the records of one scored request to the writer: inputs[i]
// scored fit[i], with lower[i] and upper[i] when lower is not empty. It
// copies what it keeps, so the caller may reuse the slices at once. When
// the buffer is full the records are dropped and counted; Log never waits.
func (w *Writer) Log(t time.Time, id, endpoint, version string, inputs []massmodel.Input, fit, lower, upper []float64) {
	n := int64(len(inputs))
	if n == 0 {
		return
	}
	if w.closed.Load() {
		w.dropped.Add(uint64(n))
		return
	}
	// Over the bound, drop, unless nothing else is waiting: one request
	// larger than the buffer is still logged.
	if p := w.pending.Add(n); p > int64(w.opt.Buffer) && p != n {
		w.pending.Add(-n)
		w.dropped.Add(uint64(n))
		return
	}
	b := w.pool.Get().(*batch)
	b.time, b.id, b.endpoint, b.version = t, id, endpoint, version
	b.inputs = append(b.inputs[:0], inputs...)
	b.fit = append(b.fit[:0], fit...)
	b.lower = append(b.lower[:0], lower...)
	b.upper = append(b.upper[:0], upper...)
	select {
	case w.ch <- b:
	default:
		w.pending.Add(-n)
		w.dropped.Add(uint64(n))
		w.put(b)
	}
}

func (w *Writer) put(b *batch) {
	if cap(b.inputs) <= maxPooled {
		w.pool.Put(b)
	}
}

// Stats are the Writer's counts so far.
type Stats struct {
	Written uint64 // records written to a file
	Dropped uint64 // records not written: the buffer was full, or a write failed
	Errors  uint64 // failed file operations
}

// Stats returns the counts so far.
func (w *Writer) Stats() Stats {
	return Stats{Written: w.written.Load(), Dropped: w.dropped.Load(), Errors: w.failed.Load()}
}

// Close writes what is buffered, then syncs, closes and finishes the
// current file. Records logged after Close are dropped. Call it after the
// server has drained.
func (w *Writer) Close() error {
	if w.closed.Swap(true) {
		<-w.done
		return w.closeErr
	}
	close(w.stop)
	<-w.done
	return w.closeErr
}

// drainEvery is how often the writer goroutine wakes to write what is
// waiting. It never waits on the request path's sends: waking once per
// request would cost a goroutine switch and a write per prediction.
const drainEvery = 20 * time.Millisecond

// run is the writer goroutine.
func (w *Writer) run() {
	defer close(w.done)
	tick := time.NewTicker(drainEvery)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			w.drain()
			w.flush()
		case <-w.stop:
			w.drain()
			w.flush()
			w.closeErr = w.finish()
			return
		}
	}
}

// drain encodes every batch waiting (encode writes a full buffer as it
// goes).
func (w *Writer) drain() {
	for {
		select {
		case b := <-w.ch:
			w.encode(b)
		default:
			return
		}
	}
}

// encode appends b's records to the buffer, rotating first whenever a line
// would take the current file past MaxBytes, so a record is never split
// across files.
func (w *Writer) encode(b *batch) {
	defer func() {
		w.pending.Add(-int64(len(b.inputs)))
		w.put(b)
	}()
	w.head = b.appendHead(w.head[:0])
	w.middle = b.appendMiddle(w.middle[:0])
	for i := range b.inputs {
		w.line = b.appendLine(w.line[:0], w.head, w.middle, i)
		if w.size+int64(len(w.buf))+int64(len(w.line)) > w.opt.MaxBytes && w.size+int64(len(w.buf)) > 0 {
			w.flush()
			if err := w.finish(); err != nil {
				w.fail("finishing", err)
			}
		}
		w.buf = append(w.buf, w.line...)
		if len(w.buf) >= flushBytes { // a large batch is written in chunks
			w.flush()
		}
	}
}

// flush writes the buffer to the current file, opening one if need be.
func (w *Writer) flush() {
	if len(w.buf) == 0 {
		return
	}
	n := countLines(w.buf)
	defer func() { w.buf = w.buf[:0] }()
	if w.f == nil {
		if err := w.create(); err != nil {
			w.fail("creating", err)
			w.dropped.Add(n)
			return
		}
	}
	k, err := w.f.Write(w.buf)
	w.size += int64(k)
	if err != nil {
		w.fail("writing", err)
		// Whole lines written are kept; the rest (and a torn line, which
		// the reader skips) are counted as dropped.
		done := countLines(w.buf[:k])
		w.written.Add(done)
		w.dropped.Add(n - done)
		if err := w.finish(); err != nil {
			w.fail("finishing", err)
		}
		return
	}
	w.written.Add(n)
	if w.size >= w.opt.MaxBytes {
		if err := w.finish(); err != nil {
			w.fail("finishing", err)
		}
	}
}

func countLines(b []byte) uint64 {
	var n uint64
	for _, c := range b {
		if c == '\n' {
			n++
		}
	}
	return n
}

func (w *Writer) create() error {
	w.seq++
	name := fmt.Sprintf("%s%s-%06d%s", prefix, w.opt.Now().UTC().Format(timeLayout), w.seq, PartialSuffix)
	p := filepath.Join(w.opt.Dir, name)
	f, err := w.opt.Create(p)
	if err != nil {
		return err
	}
	if err := syncDir(w.opt.Dir); err != nil {
		f.Close()
		return err
	}
	w.f, w.path, w.size = f, p, 0
	return nil
}

// finish syncs, closes and renames the current file, then syncs the
// directory: the model store's careful write.
func (w *Writer) finish() error {
	if w.f == nil {
		return nil
	}
	f, p := w.f, w.path
	w.f, w.path, w.size = nil, "", 0
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(serr, cerr); err != nil {
		return err
	}
	final := strings.TrimSuffix(p, ".partial")
	if err := os.Rename(p, final); err != nil {
		return err
	}
	if err := syncDir(w.opt.Dir); err != nil {
		return err
	}
	w.log.Info("prediction log file finished", zap.String("file", filepath.Base(final)))
	return nil
}

// fail counts a failed file operation and logs the 1st, 2nd, 4th, 8th…,
// so that a disk that stays broken does not flood the service's logs.
func (w *Writer) fail(what string, err error) {
	if n := w.failed.Add(1); n&(n-1) == 0 {
		w.log.Error("prediction log: "+what+" a file failed", zap.Error(err), zap.Uint64("failures", n))
	}
}

// appendHead appends what every line of b starts with, up to the row
// number: the same for the whole batch, so encoded once.
func (b *batch) appendHead(dst []byte) []byte {
	dst = append(dst, `{"time":"`...)
	dst = b.time.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","request_id":`...)
	dst = appendString(dst, b.id)
	return append(dst, `,"row":`...)
}

// appendMiddle appends what follows the row number, up to the inputs.
func (b *batch) appendMiddle(dst []byte) []byte {
	dst = append(dst, `,"endpoint":`...)
	dst = appendString(dst, b.endpoint)
	dst = append(dst, `,"model_version":`...)
	dst = appendString(dst, b.version)
	return append(dst, `,"bill_length_mm":`...)
}

// Species and sexes as JSON strings, each followed by the next field's key.
var (
	speciesThenSex = [...]string{penguins.Adelie: `,"species":"Adelie","sex":`, penguins.Chinstrap: `,"species":"Chinstrap","sex":`, penguins.Gentoo: `,"species":"Gentoo","sex":`}
	sexThenPred    = [...]string{penguins.Female: `"female","prediction":`, penguins.Male: `"male","prediction":`}
)

// appendLine appends record i of b as one JSON line, given the batch's
// head and middle.
func (b *batch) appendLine(dst, head, middle []byte, i int) []byte {
	in := b.inputs[i]
	dst = append(dst, head...)
	dst = strconv.AppendInt(dst, int64(i), 10)
	dst = append(dst, middle...)
	dst = appendFloat(dst, in.BillLengthMM)
	if int(in.Species) < len(speciesThenSex) && speciesThenSex[in.Species] != "" {
		dst = append(dst, speciesThenSex[in.Species]...)
	} else {
		dst = append(dst, `,"species":`...)
		dst = appendString(dst, in.Species.String())
		dst = append(dst, `,"sex":`...)
	}
	if int(in.Sex) < len(sexThenPred) && sexThenPred[in.Sex] != "" {
		dst = append(dst, sexThenPred[in.Sex]...)
	} else {
		dst = appendString(dst, in.Sex.String())
		dst = append(dst, `,"prediction":`...)
	}
	dst = appendFloat(dst, b.fit[i])
	if len(b.lower) > i && len(b.upper) > i {
		dst = append(dst, `,"lower_95":`...)
		dst = appendFloat(dst, b.lower[i])
		dst = append(dst, `,"upper_95":`...)
		dst = appendFloat(dst, b.upper[i])
	}
	return append(dst, "}\n"...)
}

// appendFloat writes x as a JSON number, or null when JSON has none for it.
func appendFloat(dst []byte, x float64) []byte {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return append(dst, "null"...)
	}
	return strconv.AppendFloat(dst, x, 'g', -1, 64)
}

// appendString writes s as a JSON string: as it is when it needs no
// escaping (request ids, versions and names do not), else through
// encoding/json.
func appendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
			q, _ := json.Marshal(s)
			return append(dst, q...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

func syncFile(p string) error {
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	serr := f.Sync()
	return errors.Join(serr, f.Close())
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

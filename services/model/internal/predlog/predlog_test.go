package predlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/penguins"
)

var t0 = time.Date(2026, 12, 1, 5, 15, 0, 123456789, time.UTC)

func open(t *testing.T, opt Options) *Writer {
	t.Helper()
	w, err := Open(zaptest.NewLogger(t), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func readAll(t *testing.T, dir string) ([]Record, ReadStats) {
	t.Helper()
	var rs []Record
	st, err := ReadDir(dir, func(r Record) error { rs = append(rs, r); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return rs, st
}

// TestRecordsRoundTrip: every field of single and batch records, with and
// without intervals, reads back as encoding/json sees it.
func TestRecordsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	w := open(t, Options{Dir: dir, MaxBytes: 1 << 20})
	inputs := []massmodel.Input{
		{BillLengthMM: 45, Species: penguins.Gentoo, Sex: penguins.Male},
		{BillLengthMM: 39.1, Species: penguins.Adelie, Sex: penguins.Female},
		{BillLengthMM: 1e-7, Species: penguins.Chinstrap, Sex: penguins.Male},
	}
	fit := []float64{5275.663941169736, 3700, 1.5e21}
	lower, upper := []float64{4663.3, 3000.25, -1}, []float64{5888.01, 4400.5, math.Inf(1)}
	w.Log(t0, "req-1", "predict", "v1", inputs[:1], fit[:1], nil, nil)
	w.Log(t0.Add(time.Second), `req "2"`, "infer", "v2", inputs, fit, lower, upper)
	// The caller reuses its slices at once: the log must have copied them.
	for i := range inputs {
		inputs[i], fit[i], lower[i], upper[i] = massmodel.Input{}, 0, 0, 0
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, st := readAll(t, dir)
	if st.Corrupt != 0 || st.Files != 1 {
		t.Fatalf("stats %+v", st)
	}
	f := func(x float64) *float64 { return &x }
	want := []Record{
		{Time: t0, RequestID: "req-1", Row: 0, Endpoint: "predict", ModelVersion: "v1", BillLengthMM: 45, Species: "Gentoo", Sex: "male", Prediction: 5275.663941169736},
		{Time: t0.Add(time.Second), RequestID: `req "2"`, Row: 0, Endpoint: "infer", ModelVersion: "v2", BillLengthMM: 45, Species: "Gentoo", Sex: "male", Prediction: 5275.663941169736, Lower95: f(4663.3), Upper95: f(5888.01)},
		{Time: t0.Add(time.Second), RequestID: `req "2"`, Row: 1, Endpoint: "infer", ModelVersion: "v2", BillLengthMM: 39.1, Species: "Adelie", Sex: "female", Prediction: 3700, Lower95: f(3000.25), Upper95: f(4400.5)},
	}
	if len(got) != 4 {
		t.Fatalf("%d records, want 4: %+v", len(got), got)
	}
	for i, w := range want {
		gj, _ := json.Marshal(got[i])
		wj, _ := json.Marshal(w)
		if !bytes.Equal(gj, wj) {
			t.Errorf("record %d:\n got %s\nwant %s", i, gj, wj)
		}
	}
	// JSON has no infinity: the bound is null, so the line still parses.
	if r := got[3]; r.BillLengthMM != 1e-7 || r.Prediction != 1.5e21 || r.Species != "Chinstrap" || *r.Lower95 != -1 || r.Upper95 != nil {
		t.Errorf("record 3: %+v", r)
	}
	if s := w.Stats(); s.Written != 4 || s.Dropped != 0 || s.Errors != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestRotationLosesNothing: with a small size, records spread over many
// files, each at most MaxBytes, whole lines only, in order; finished files
// are never touched again.
func TestRotationLosesNothing(t *testing.T) {
	dir := t.TempDir()
	const maxBytes = 1000
	w := open(t, Options{Dir: dir, MaxBytes: maxBytes, Buffer: 1 << 20})
	in := []massmodel.Input{{BillLengthMM: 45, Species: penguins.Gentoo, Sex: penguins.Male}}
	finished := map[string][]byte{}
	n := 0
	for round := range 5 {
		for range 40 {
			w.Log(t0, fmt.Sprintf("r%04d", n), "predict", "v1", in, []float64{float64(n)}, nil, nil)
			n++
		}
		// A batch too, which must be split across files by whole records.
		batch := slices.Repeat(in, 7)
		w.Log(t0, fmt.Sprintf("r%04d", n), "predict", "v1", batch, slices.Repeat([]float64{float64(n)}, 7), nil, nil)
		n++
		waitWritten(t, w, uint64(40*(round+1)+7*(round+1)))
		// Files finished earlier are unchanged.
		for name, body := range finished {
			now, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil || !bytes.Equal(now, body) {
				t.Fatalf("%s was rewritten or removed (%v)", name, err)
			}
		}
		names, _ := Files(dir)
		for _, name := range names {
			if strings.HasSuffix(name, Ext) {
				if _, ok := finished[name]; !ok {
					finished[name], _ = os.ReadFile(filepath.Join(dir, name))
				}
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	names, _ := Files(dir)
	if len(names) < 10 {
		t.Errorf("%d files, want many", len(names))
	}
	if !slices.IsSorted(names) {
		t.Errorf("names not in order: %v", names)
	}
	for _, name := range names {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		if strings.HasSuffix(name, ".partial") || len(b) > maxBytes || len(b) == 0 || b[len(b)-1] != '\n' {
			t.Errorf("%s: %d bytes, ends %q", name, len(b), b[max(0, len(b)-1):])
		}
	}
	got, st := readAll(t, dir)
	if st.Corrupt != 0 || len(got) != 5*47 {
		t.Fatalf("%d records, %d corrupt; want %d, 0", len(got), st.Corrupt, 5*47)
	}
	// In order, none lost: request ids ascend, each batch's rows 0..6.
	prev := ""
	for i, r := range got {
		if r.RequestID < prev || (r.RequestID == prev && r.Row != got[i-1].Row+1) {
			t.Fatalf("record %d out of order: %+v after %s", i, r, prev)
		}
		prev = r.RequestID
	}
}

func waitWritten(t *testing.T, w *Writer, n uint64) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); w.Stats().Written < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("written %d, want %d", w.Stats().Written, n)
		}
	}
}

// TestPartialFinishedOnCloseAndRecoveredAtOpen: the file being written is
// .partial; Close renames it; a partial left by a crash is renamed, as it
// stands, by the next Open.
func TestPartialFinishedOnCloseAndRecoveredAtOpen(t *testing.T) {
	dir := t.TempDir()
	w := open(t, Options{Dir: dir, MaxBytes: 1 << 20})
	w.Log(t0, "a", "predict", "v1", []massmodel.Input{{BillLengthMM: 40, Species: penguins.Adelie, Sex: penguins.Male}}, []float64{3800}, nil, nil)
	waitWritten(t, w, 1)
	names, _ := Files(dir)
	if len(names) != 1 || !strings.HasSuffix(names[0], PartialSuffix) {
		t.Fatalf("while writing: %v, want one partial file", names)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	names, _ = Files(dir)
	if len(names) != 1 || !strings.HasSuffix(names[0], Ext) {
		t.Fatalf("after Close: %v, want one finished file", names)
	}
	w.Log(t0, "late", "predict", "v1", []massmodel.Input{{BillLengthMM: 40, Species: penguins.Adelie, Sex: penguins.Male}}, []float64{3800}, nil, nil)
	if s := w.Stats(); s.Dropped != 1 {
		t.Errorf("after Close: %+v, want the late record dropped", s)
	}

	// A crash: a partial file whose last line is torn.
	body := `{"time":"2026-12-01T05:15:00Z","request_id":"b","row":0,"endpoint":"predict","model_version":"v1","bill_length_mm":40,"species":"Adelie","sex":"male","prediction":3800}` + "\n" + `{"time":"2026-12-01T05:1`
	crashed := filepath.Join(dir, "predictions-20261201T051600.000Z-000001"+PartialSuffix)
	if err := os.WriteFile(crashed, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	w2 := open(t, Options{Dir: dir, MaxBytes: 1 << 20})
	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}
	names, _ = Files(dir)
	if len(names) != 2 || slices.ContainsFunc(names, func(n string) bool { return strings.HasSuffix(n, ".partial") }) {
		t.Fatalf("after recovery: %v", names)
	}
	if b, _ := os.ReadFile(strings.TrimSuffix(crashed, ".partial")); string(b) != body {
		t.Errorf("the recovered file was rewritten: %q", b)
	}
	got, st := readAll(t, dir)
	if len(got) != 2 || st.Corrupt != 1 {
		t.Errorf("%d records, %d corrupt; want 2, 1", len(got), st.Corrupt)
	}
}

// blockingFile is a disk that hangs: Write waits until release is closed.
type blockingFile struct {
	release chan struct{}
	f       *os.File
}

func (b *blockingFile) Write(p []byte) (int, error) {
	<-b.release
	return b.f.Write(p)
}
func (b *blockingFile) Sync() error  { return b.f.Sync() }
func (b *blockingFile) Close() error { return b.f.Close() }

// TestSlowDiskDropsAndCounts: while the disk hangs, Log returns at once;
// beyond the buffer, records are dropped and counted; once the disk
// recovers, what was kept is written and nothing is counted twice.
func TestSlowDiskDropsAndCounts(t *testing.T) {
	dir := t.TempDir()
	release := make(chan struct{})
	w := open(t, Options{Dir: dir, MaxBytes: 1 << 20, Buffer: 100, Create: func(p string) (File, error) {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		return &blockingFile{release: release, f: f}, err
	}})
	in := []massmodel.Input{{BillLengthMM: 45, Species: penguins.Gentoo, Sex: penguins.Male}}
	const total = 1000
	start := time.Now()
	for i := range total {
		w.Log(t0, fmt.Sprint(i), "predict", "v1", in, []float64{1}, nil, nil)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("1000 Log calls took %s with the disk blocked", d)
	}
	s := w.Stats()
	if s.Dropped == 0 || s.Dropped >= total || s.Written != 0 {
		t.Errorf("disk blocked: %+v, want some dropped, none written", s)
	}
	close(release)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	s = w.Stats()
	if s.Written+s.Dropped != total || s.Written == 0 {
		t.Errorf("after: %+v, want written + dropped = %d", s, total)
	}
	if got, _ := readAll(t, dir); uint64(len(got)) != s.Written {
		t.Errorf("%d records on disk, %d counted written", len(got), s.Written)
	}
}

type failingFile struct{}

func (f *failingFile) Write(p []byte) (int, error) { return 0, errors.New("disk full") }
func (f *failingFile) Sync() error                 { return nil }
func (f *failingFile) Close() error                { return nil }

// TestWriteErrorsCountDrops: records a failed write loses are dropped and
// counted, and the writer keeps going.
func TestWriteErrorsCountDrops(t *testing.T) {
	dir := t.TempDir()
	w := open(t, Options{Dir: dir, MaxBytes: 1 << 20, Create: func(p string) (File, error) {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			return nil, err
		}
		return &failingFile{}, nil
	}})
	in := []massmodel.Input{{BillLengthMM: 45, Species: penguins.Gentoo, Sex: penguins.Male}}
	w.Log(t0, "a", "predict", "v1", in, []float64{1}, nil, nil)
	for deadline := time.Now().Add(5 * time.Second); w.Stats().Dropped < 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the failed record was not counted")
		}
	}
	w.Close()
	if s := w.Stats(); s.Written != 0 || s.Dropped != 1 || s.Errors == 0 {
		t.Errorf("%+v", s)
	}
}

// TestReadSkipsCorruptLines: lines that are not JSON, or lack a field every
// record has, are counted and skipped; the rest are read.
func TestReadSkipsCorruptLines(t *testing.T) {
	good := `{"time":"2026-12-01T05:15:00Z","request_id":"a","row":0,"endpoint":"predict","model_version":"v1","bill_length_mm":40,"species":"Adelie","sex":"male","prediction":3800,"future_field":1}`
	lines := []string{
		good,
		`not json`,
		`{"time":"2026-12-01T05:15:00Z","request_id":"a","row":0,"endpoint":"predict","model_version":"v1","bill_length_mm":40,"species":"Adelie","sex":"male"}`, // no prediction
		`{"request_id":"a","row":0,"endpoint":"predict","model_version":"v1","bill_length_mm":40,"species":"Adelie","sex":"male","prediction":1}`,                // no time
		`{"time":"2026-12-01T05:15:00Z","request_id":"a","row":0,"endpoint":"predict","model_version":"v1","bill_length_mm":40,"sex":"male","prediction":1}`,     // no species
		``,
		good,
		`{"time":`,
	}
	var n int
	st, err := Read(strings.NewReader(strings.Join(lines, "\n")), func(r Record) error {
		if r.Prediction != 3800 || r.RequestID != "a" {
			t.Errorf("read %+v", r)
		}
		n++
		return nil
	})
	if err != nil || n != 2 || st.Records != 2 || st.Corrupt != 5 {
		t.Errorf("read %d, stats %+v, err %v; want 2 read, 5 corrupt", n, st, err)
	}
}

// BenchmarkLog: what the request path pays to hand one record to the log.
// The loop outruns any disk, so most records are dropped at the bound;
// that costs less than a kept one.
func BenchmarkLog(b *testing.B) {
	w, err := Open(zaptest.NewLogger(b), Options{Dir: b.TempDir(), MaxBytes: 64 << 20, Buffer: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	in := []massmodel.Input{{BillLengthMM: 45.2, Species: penguins.Gentoo, Sex: penguins.Male}}
	fit := []float64{5275.663941169736}
	b.ReportAllocs()
	for b.Loop() {
		w.Log(t0, "c1f759cbc4869adc26c9f1701e2f05ce", "predict", "20261201T051719Z-af2f7c84efe8", in, fit, nil, nil)
	}
	w.Close()
	s := w.Stats()
	b.ReportMetric(float64(s.Dropped)/float64(s.Dropped+s.Written), "dropped/op")
}

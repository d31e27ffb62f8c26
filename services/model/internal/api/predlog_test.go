package api

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/palmerops/penguins/services/model/internal/predlog"
)

// hungFile is a disk that never answers until released.
type hungFile struct {
	release chan struct{}
	f       *os.File
}

func (h *hungFile) Write(p []byte) (int, error) { <-h.release; return h.f.Write(p) }
func (h *hungFile) Sync() error                 { return h.f.Sync() }
func (h *hungFile) Close() error                { return h.f.Close() }

// TestPredictionsSucceedWhileTheLogHangs: with the log's disk hung,
// /predict and /v2 still answer, the records beyond the buffer are counted
// as dropped in /metrics, and those kept are written once the disk
// recovers.
func TestPredictionsSucceedWhileTheLogHangs(t *testing.T) {
	f := newFixture(t, testLimits)
	dir := t.TempDir()
	release := make(chan struct{})
	w, err := predlog.Open(zaptest.NewLogger(t), predlog.Options{Dir: dir, MaxBytes: 1 << 20, Buffer: 10,
		Create: func(p string) (predlog.File, error) {
			file, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			return &hungFile{release: release, f: file}, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	f.srv.EnablePredictionLog(w)

	const requests = 30
	for i := range requests {
		done := make(chan int, 1)
		go func() {
			resp, _ := f.do(t, "POST", "/predict", "application/json", `{"bill_length_mm": 45, "species": "Gentoo", "sex": "male"}`, "X-Request-ID", fmt.Sprint("req-", i))
			done <- resp.StatusCode
		}()
		select {
		case code := <-done:
			if code != 200 {
				t.Fatalf("request %d: status %d", i, code)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("request %d waited on the hung log", i)
		}
	}
	resp, body := f.do(t, "POST", "/v2/models/penguin_model/infer", "application/json",
		`{"inputs":[{"name":"bill_length_mm","shape":[2],"datatype":"FP64","data":[45,39]},{"name":"species","shape":[2],"datatype":"BYTES","data":["Gentoo","Adelie"]},{"name":"sex","shape":[2],"datatype":"BYTES","data":["male","female"]}]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("/v2: %s %s", resp.Status, body)
	}
	_, metrics := f.do(t, "GET", "/metrics", "", "")
	st := w.Stats()
	if st.Dropped == 0 || st.Written != 0 {
		t.Errorf("log hung: %+v, want records dropped and none written", st)
	}
	if want := fmt.Sprintf("model_prediction_log_dropped_total %d", st.Dropped); !strings.Contains(string(metrics), want) {
		t.Errorf("/metrics lacks %q", want)
	}
	close(release)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	st = w.Stats()
	if st.Written+st.Dropped != requests+2 {
		t.Errorf("after: %+v, want written + dropped = %d", st, requests+2)
	}
	var n uint64
	if _, err := predlog.ReadDir(dir, func(predlog.Record) error { n++; return nil }); err != nil || n != st.Written {
		t.Errorf("read %d records (err %v), %d written", n, err, st.Written)
	}
}

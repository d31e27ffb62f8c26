package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/palmerops/penguins/services/model/internal/predlog"
)

// TestPredictionLogSurvivesSIGTERM runs the binary with the prediction log
// on: a crash's partial file is finished at start, every record of single
// and batch requests on /predict and /v2 is written, the log rotates by
// size, and SIGTERM finishes the last file.
func TestPredictionLogSurvivesSIGTERM(t *testing.T) {
	dir := t.TempDir()
	// What a crash leaves: a partial file with a torn last line.
	crashed := filepath.Join(dir, "predictions-20200101T000000.000Z-000001"+predlog.PartialSuffix)
	if err := os.WriteFile(crashed, []byte(`{"time":"2020-01-01T00:00:00Z","request_id":"old","row":0,"endpoint":"predict","model_version":"v","bill_length_mm":40,"species":"Adelie","sex":"male","prediction":4000}`+"\n"+`{"time":"2020`), 0o644); err != nil {
		t.Fatal(err)
	}
	p := start(t, "MODEL_PREDICTION_LOG="+dir, "MODEL_PREDICTION_LOG_MAX_BYTES=4KiB")
	p.waitReady(t)
	if _, err := os.Stat(strings.TrimSuffix(crashed, ".partial")); err != nil {
		t.Fatalf("the crash's partial file was not finished at start: %v", err)
	}

	post := func(path, id, body string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, p.url(path), strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Request-ID", id)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %s", path, resp.Status)
		}
	}
	const singles = 40 // about 10KiB of lines: more than two files
	for i := range singles {
		post("/predict", fmt.Sprintf("single-%d", i), `{"bill_length_mm": 45, "species": "Gentoo", "sex": "male"}`)
	}
	post("/predict?interval=prediction", "batch", `[{"bill_length_mm": 45, "species": "Gentoo", "sex": "male"}, {"bill_length_mm": 39.1, "species": "Adelie", "sex": "female"}]`)
	post("/v2/models/penguin_model/infer", "oip", `{"inputs":[{"name":"bill_length_mm","shape":[1],"datatype":"FP64","data":[50]},{"name":"species","shape":[1],"datatype":"BYTES","data":["Chinstrap"]},{"name":"sex","shape":[1],"datatype":"BYTES","data":["female"]}]}`)

	p.stop(t)

	names, err := predlog.Files(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 3 {
		t.Errorf("files %v: want the recovered one and at least two rotated by size", names)
	}
	for _, n := range names {
		if strings.HasSuffix(n, ".partial") {
			t.Errorf("%s still partial after SIGTERM", n)
		}
		if fi, err := os.Stat(filepath.Join(dir, n)); err == nil && fi.Size() > 4096 {
			t.Errorf("%s is %d bytes, over MODEL_PREDICTION_LOG_MAX_BYTES", n, fi.Size())
		}
	}
	byID := map[string][]predlog.Record{}
	st, err := predlog.ReadDir(dir, func(r predlog.Record) error {
		byID[r.RequestID] = append(byID[r.RequestID], r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Corrupt != 1 {
		t.Errorf("corrupt lines %d, want 1 (the crash's torn line)", st.Corrupt)
	}
	if want := 1 + singles + 2 + 1; st.Records != want {
		t.Errorf("records %d, want %d", st.Records, want)
	}
	for i := range singles {
		if rs := byID[fmt.Sprintf("single-%d", i)]; len(rs) != 1 || rs[0].Lower95 != nil || rs[0].Endpoint != "predict" {
			t.Errorf("single-%d: %+v", i, rs)
		}
	}
	if b := byID["batch"]; len(b) != 2 || b[1].Row != 1 || b[1].Species != "Adelie" || b[1].Sex != "female" || b[1].BillLengthMM != 39.1 || b[1].Lower95 == nil {
		t.Errorf("batch: %+v", b)
	}
	if o := byID["oip"]; len(o) != 1 || o[0].Endpoint != "infer" || o[0].Species != "Chinstrap" || o[0].Upper95 == nil {
		t.Errorf("oip: %+v", o)
	}
	if !strings.Contains(p.stdout.String(), `"msg":"prediction log closed"`) {
		t.Error(`logs lack "prediction log closed"`)
	}
}

package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/palmerops/penguins/pkg/buildinfo"
	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/penguins"
	"github.com/palmerops/penguins/pkg/service"
	"github.com/palmerops/penguins/services/model/internal/perfdata"
)

// TestPredictionLinesMatchZap: the request path's lines (the access line,
// "prediction requested" and "prediction returned", which the service
// writes through service.Lines) are, byte for byte, what zap writes for
// the same requests: single records and a batch of three lines, with and
// without intervals, through /predict and /v2. Only the times and the
// access line's latency differ.
func TestPredictionLinesMatchZap(t *testing.T) {
	a, m, err := massmodel.TrainFrom(context.Background(), penguins.Embedded{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	run := func(fast bool) []string {
		out, err := os.CreateTemp(t.TempDir(), "log")
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		log, flush := service.NewLogger(out, "model-service", "test", "v1", zapcore.InfoLevel)
		if !fast {
			log = log.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return struct{ zapcore.Core }{c} }))
		}
		srv, err := New(log, testLimits, buildinfo.Info{Version: "v1"})
		if err != nil {
			t.Fatal(err)
		}
		if (srv.returned != nil) != fast {
			t.Fatalf("fast path %v, want %v", srv.returned != nil, fast)
		}
		if err := srv.SetModel(context.Background(), Loaded{Artifact: a, Model: m, From: "test"}); err != nil {
			t.Fatal(err)
		}
		for i, c := range []struct{ path, body string }{
			{"/predict", string(perfdata.Batch(1))},
			{"/predict?interval=prediction", `[{"bill_length_mm": 61.5, "species": "Adelie", "sex": "female"}]`},
			{"/predict", string(perfdata.Batch(250))},
			{"/v2/models/penguin_model/infer", `{"inputs": [
				{"name": "bill_length_mm", "shape": [2], "datatype": "FP64", "data": [45, 39.1]},
				{"name": "species", "shape": [2], "datatype": "BYTES", "data": ["Gentoo", "Adelie"]},
				{"name": "sex", "shape": [2], "datatype": "BYTES", "data": ["male", "female"]}
			]}`},
		} {
			req := httptest.NewRequest(http.MethodPost, c.path, strings.NewReader(c.body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Request-ID", "lines-"+string(rune('a'+i)))
			w := httptest.NewRecorder()
			srv.Handler().ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				t.Fatalf("%s: %d %s", c.path, w.Code, w.Body)
			}
		}
		flush()
		written, err := os.ReadFile(out.Name())
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for l := range strings.Lines(string(written)) {
			if strings.Contains(l, `"request_id":"lines-`) {
				lines = append(lines, varying.ReplaceAllString(l, `"$1":0`))
			}
		}
		return lines
	}
	viaZap, viaLines := run(false), run(true)
	// 4 access lines, 4 "prediction requested", 1+1+3+1 "prediction returned".
	if len(viaZap) != 14 {
		t.Fatalf("%d lines through zap, want 14:\n%s", len(viaZap), strings.Join(viaZap, ""))
	}
	if len(viaLines) != len(viaZap) {
		t.Fatalf("%d lines through service.Lines, %d through zap", len(viaLines), len(viaZap))
	}
	for i := range viaZap {
		if viaZap[i] != viaLines[i] {
			t.Errorf("line %d differs:\nzap:   %slines: %s", i, viaZap[i], viaLines[i])
		}
	}
}

// varying matches what two runs of the same requests write differently.
var varying = regexp.MustCompile(`"(time|latency_ms)":("[^"]*"|[0-9.e+-]+)`)

package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/palmerops/penguins/pkg/buildinfo"
	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/modelapi"
	"github.com/palmerops/penguins/pkg/penguins"
	"github.com/palmerops/penguins/pkg/service"
	"github.com/palmerops/penguins/services/model/internal/auth"
	"github.com/palmerops/penguins/services/model/internal/perfdata"
	"github.com/palmerops/penguins/services/model/internal/shadow"
)

// batchBody returns n records in the one-hot form (perfdata.Batch).
func batchBody(n int) []byte { return perfdata.Batch(n) }

// benchServer is a ready server with the production logger at info level,
// writing to io.Discard.
func benchServer(b *testing.B) *Server {
	log, flush := service.NewLogger(io.Discard, "model-service", "bench", "bench", zapcore.InfoLevel)
	b.Cleanup(flush)
	srv, err := New(log, Limits{MaxBodyBytes: 64 << 20, MaxRows: 100000}, buildinfo.Info{Version: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	a, m, err := massmodel.TrainFrom(context.Background(), penguins.Embedded{}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.SetModel(context.Background(), Loaded{Artifact: a, Model: m, From: "bench"}); err != nil {
		b.Fatal(err)
	}
	return srv
}

// BenchmarkPredictHandler measures POST /predict end to end in process:
// routing, middleware (request id, metrics, access log), body read,
// decode, validate, predict and encode.
func BenchmarkPredictHandler(b *testing.B) {
	for _, rows := range []int{1, 10000} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			body := batchBody(rows)
			b.SetBytes(int64(len(body)))
			postLoop(b, benchServer(b).Handler(), body)
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkLimitHandler is the in-process limit the handler is compared
// with: a net/http handler that reads the body and answers a constant JSON,
// through the same harness (request, recorder) as BenchmarkPredictHandler.
// The difference between the two is the API's own cost per request.
func BenchmarkLimitHandler(b *testing.B) {
	answer := []byte(`{"predict":[5275.6603],"model":"penguin_model","version":"20260101T000000Z-000000000000"}` + "\n")
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(answer)
	})
	postLoop(b, h, batchBody(1))
}

// postLoop POSTs body to h's /predict until the benchmark ends, through
// the same harness for the handler and the limit.
func postLoop(b *testing.B, h http.Handler, body []byte, header ...string) {
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPost, "/predict", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		req.RemoteAddr = "127.0.0.1:40000"
		req.RequestURI = "/predict"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

// BenchmarkBaselineStdlib10k is the baseline the handler is compared with
// in the same run: the same 10,000 records through encoding/json (decode
// into structs, predict, encode), with no HTTP, validation or logging.
func BenchmarkBaselineStdlib10k(b *testing.B) {
	_, m, err := massmodel.TrainFrom(context.Background(), penguins.Embedded{}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	body := batchBody(10000)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		var recs []modelapi.OneHotRecord
		if err := json.Unmarshal(body, &recs); err != nil {
			b.Fatal(err)
		}
		out := modelapi.PredictResponse{Predict: make([]float64, len(recs))}
		for i, r := range recs {
			in := massmodel.Input{BillLengthMM: r.BillLengthMM, Species: penguins.Adelie, Sex: penguins.Female}
			if r.SpeciesChinstrap {
				in.Species = penguins.Chinstrap
			} else if r.SpeciesGentoo {
				in.Species = penguins.Gentoo
			}
			if r.SexMale {
				in.Sex = penguins.Male
			}
			out.Predict[i] = m.Predict(in)
		}
		if _, err := json.Marshal(out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(10000*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkPredictShadow is /predict of one record with shadow scoring off
// and on at the default rate (the scoring goroutine running, a challenger
// loaded): the shadow's cost on the request path. make perf measures the
// same over HTTP ("shadow on (default sample)" ÷ "shadow off").
func BenchmarkPredictShadow(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("shadow=%v", on), func(b *testing.B) {
			srv := benchServer(b)
			if on {
				sh, err := shadow.New(zap.NewNop(), shadow.Options{Alias: "challenger", Rate: shadow.DefaultRate})
				if err != nil {
					b.Fatal(err)
				}
				a, m, err := massmodel.TrainFrom(context.Background(), only2007{}, time.Now())
				if err != nil {
					b.Fatal(err)
				}
				sh.SetChallenger(a.Version, m)
				srv.EnableShadow(sh)
				sh.Start()
				b.Cleanup(sh.Close)
			}
			postLoop(b, srv.Handler(), batchBody(1))
		})
	}
}

// BenchmarkPredictAuth is /predict of one record with auth off and on (one
// key, a rate limit the loop never reaches, every request sending the
// key): the cost of auth and rate limiting on the request path, per
// request. make perf measures the same over HTTP (-auth).
func BenchmarkPredictAuth(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("auth=%v", on), func(b *testing.B) {
			srv := benchServer(b)
			var header []string
			if on {
				path := filepath.Join(b.TempDir(), "keys")
				key, err := auth.Add(path, "perf", []auth.Scope{auth.Predict}, "", time.Now())
				if err != nil {
					b.Fatal(err)
				}
				a, err := auth.New(zap.NewNop(), prometheus.NewRegistry(), path, auth.Limits{Rate: 1e9, Burst: 1e9})
				if err != nil {
					b.Fatal(err)
				}
				srv.EnableAuth(a)
				header = []string{"Authorization", "Bearer " + key}
			}
			postLoop(b, srv.Handler(), batchBody(1), header...)
		})
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/palmerops/penguins/pkg/buildinfo"
	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/modelapi"
	"github.com/palmerops/penguins/pkg/penguins"
	"github.com/palmerops/penguins/services/model/internal/api"
)

func TestOnlyThisMachine(t *testing.T) {
	for raw, want := range map[string]string{
		"http://127.0.0.1:8080":      "http://127.0.0.1:8080/predict",
		"http://127.0.0.2:9000/":     "http://127.0.0.2:9000/predict",
		"http://localhost:8080":      "http://localhost:8080/predict",
		"http://[::1]:8080":          "http://[::1]:8080/predict",
		"https://127.0.0.1:8443/api": "https://127.0.0.1:8443/api/predict",
	} {
		u, err := localTarget(raw)
		if err != nil || u.String() != want {
			t.Errorf("localTarget(%q) = %v, %v; want %s", raw, u, err, want)
		}
	}
	for _, raw := range []string{
		"http://10.0.0.1:8080", "http://192.168.1.10:8080", "http://example.com", "http://8.8.8.8",
		"http://localhost.example.com:8080", "http://[::ffff:10.0.0.1]:80", "http://0.0.0.0:8080",
		"ftp://127.0.0.1", "127.0.0.1:8080", "http://127.0.0.1:8080/?q=1", "",
	} {
		if _, err := localTarget(raw); err == nil {
			t.Errorf("localTarget(%q) accepted", raw)
		}
	}
}

func TestFlagErrorsNameEveryBadFlag(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"-url", "http://10.1.2.3", "-shift", "nope", "-rate", "0", "-duration", "2h", "-batch", "0", "-concurrency", "100"}, &out)
	if err == nil {
		t.Fatal("bad flags accepted")
	}
	for _, want := range []string{"-url", "refusing host", "-shift \"nope\"", "-rate", "-duration", "-batch", "-concurrency"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
	if out.Len() != 0 {
		t.Errorf("sent something with bad flags: %s", out.String())
	}
}

func TestListNamesEveryShift(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-list"}, &out); err != nil {
		t.Fatal(err)
	}
	for _, s := range shifts {
		if !strings.Contains(out.String(), s.name+" ") {
			t.Errorf("-list misses %s:\n%s", s.name, out.String())
		}
	}
}

// TestShiftsDriftAsNamed runs each shift against the real model API
// in-process and reads the drift it reports: training-like traffic drifts
// nowhere, each shift drifts the features it says it does.
func TestShiftsDriftAsNamed(t *testing.T) {
	want := map[string]map[string]string{
		"none":              {"bill_length_mm": "ok", "species": "ok", "sex": "ok", "prediction": "ok"},
		"gentoo-long-bills": {"bill_length_mm": "alert", "species": "alert", "prediction": "alert"},
		"males-only":        {"sex": "alert", "species": "ok"},
		"out-of-range":      {"species": "ok", "sex": "ok"},
	}
	if len(want) != len(shifts) {
		t.Fatalf("%d shifts, %d expectations", len(shifts), len(want))
	}
	for _, s := range shifts {
		t.Run(s.name, func(t *testing.T) {
			base := modelAPI(t)
			// Send until the window is full: a loaded machine (the race
			// detector, other tests) serves fewer than -rate asks.
			var d modelapi.Drift
			for runs, records := 0, 0; ; runs++ {
				var out bytes.Buffer
				if err := run(context.Background(), []string{"-url", base, "-shift", s.name, "-rate", "200", "-batch", "10", "-duration", "400ms"}, &out); err != nil {
					t.Fatalf("%v\n%s", err, out.String())
				}
				t.Log(out.String())
				sent := regexp.MustCompile(`sent (\d+) requests \((\d+) records\)`).FindStringSubmatch(out.String())
				if sent == nil || !strings.Contains(out.String(), "status 200: "+sent[1]+"\n") || !strings.Contains(out.String(), "errors: 0") {
					t.Fatalf("summary:\n%s", out.String())
				}
				n, _ := strconv.Atoi(sent[2])
				records += n
				d = get[modelapi.Drift](t, base+"/monitoring/drift")
				if d.Window.Records == d.Window.Size {
					break
				}
				if d.Window.Records != min(records, d.Window.Size) || runs == 20 {
					t.Fatalf("window holds %d of %d records after %d records sent in %d runs", d.Window.Records, d.Window.Size, records, runs+1)
				}
			}
			for _, f := range d.Features {
				t.Logf("%s: PSI %.3f (%s)", f.Feature, *f.PSI, f.Status)
				if w, ok := want[s.name][f.Feature]; ok && f.Status != w {
					t.Errorf("%s: %s PSI %.3f, status %s; want %s", s.name, f.Feature, *f.PSI, f.Status, w)
				}
			}
			// The out-of-range share is what the shift says (1 in 5), and
			// tiny in training-like traffic (none: the data is the range).
			share := outOfRangeShare(t, base)
			switch s.name {
			case "none", "males-only":
				if share != 0 {
					t.Errorf("out-of-range share %.3f in training rows", share)
				}
			case "out-of-range":
				if share < 0.15 || share > 0.25 {
					t.Errorf("out-of-range share %.3f, want about 0.2", share)
				}
			}
		})
	}
}

func TestSameSeedSameRecords(t *testing.T) {
	var got [2][]string
	for i := range got {
		var bodies []string
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var b bytes.Buffer
			b.ReadFrom(r.Body)
			bodies = append(bodies, b.String()) // the handler runs one request at a time with -concurrency 1
			w.WriteHeader(http.StatusOK)
		}))
		var out bytes.Buffer
		if err := run(context.Background(), []string{"-url", ts.URL, "-rate", "100", "-batch", "3", "-duration", "100ms", "-concurrency", "1", "-seed", "7"}, &out); err != nil {
			t.Fatal(err)
		}
		ts.Close()
		got[i] = bodies
	}
	n := min(len(got[0]), len(got[1]))
	if n < 3 {
		t.Fatalf("only %d requests", n)
	}
	for i := range n {
		if got[0][i] != got[1][i] {
			t.Fatalf("request %d differs between runs with the same seed:\n%s\n%s", i, got[0][i], got[1][i])
		}
	}
	var recs []modelapi.Record
	if err := json.Unmarshal([]byte(got[0][0]), &recs); err != nil || len(recs) != 3 {
		t.Fatalf("body %s: %v", got[0][0], err)
	}
}

func TestFailuresAreCountedAndExitNonZero(t *testing.T) {
	var calls atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1)%2 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer ts.Close()
	var out bytes.Buffer
	err := run(context.Background(), []string{"-url", ts.URL, "-rate", "100", "-duration", "200ms"}, &out)
	if err == nil || !strings.Contains(err.Error(), "requests failed") {
		t.Fatalf("half the requests got 503 and run returned %v", err)
	}
	for _, want := range []string{"status 200: ", "status 503: ", "errors: "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary misses %q:\n%s", want, out.String())
		}
	}

	// Nobody listening: every request is "no answer".
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	out.Reset()
	if err := run(context.Background(), []string{"-url", "http://" + addr, "-rate", "50", "-duration", "100ms"}, &out); err == nil {
		t.Fatal("no server, and run succeeded")
	}
	if !regexp.MustCompile(`no answer: [1-9]\d* \(first: `).MatchString(out.String()) {
		t.Errorf("summary:\n%s", out.String())
	}
}

// modelAPI serves the real model API, trained from the embedded data, with
// a drift window of 500 records.
func modelAPI(t *testing.T) string {
	t.Helper()
	srv, err := api.New(zaptest.NewLogger(t), api.Limits{MaxBodyBytes: 1 << 20, MaxRows: 1000}, buildinfo.Info{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	srv.EnableDrift(api.DriftSettings{Enabled: true, Window: 500, Min: 500})
	a, m, err := massmodel.TrainFrom(context.Background(), penguins.Embedded{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.SetModel(context.Background(), api.Loaded{Artifact: a, Model: m, From: "test"}); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts.URL
}

func get[T any](t *testing.T, url string) T {
	t.Helper()
	var v T
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	return v
}

// outOfRangeShare reads the out-of-range records over the predictions from
// /metrics.
func outOfRangeShare(t *testing.T, base string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	value := func(re string) float64 {
		m := regexp.MustCompile(`(?m)^` + re + ` (\S+)$`).FindStringSubmatch(b.String())
		if m == nil {
			return 0
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		return v
	}
	preds := value(`model_predictions_total\{endpoint="predict"\}`)
	if preds == 0 {
		t.Fatal("no predictions counted")
	}
	return value(`model_inputs_out_of_range_total\{feature="bill_length_mm",reason="training_range"\}`) / preds
}

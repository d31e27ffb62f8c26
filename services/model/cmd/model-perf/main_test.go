package main

import (
	"bufio"
	"strings"
	"testing"
)

// TestSink counts a server's lines and prediction records and keeps only
// the lines that are not per-request ones.
func TestSink(t *testing.T) {
	output := strings.Join([]string{
		`{"level":"info","time":"2026-12-02T19:00:00Z","msg":"service started","service":"model-service"}`,
		`{"level":"info","time":"2026-12-02T19:00:01Z","msg":"prediction requested","service":"model-service","request_id":"a","endpoint":"predict","rows":3}`,
		`{"level":"info","time":"2026-12-02T19:00:01Z","msg":"prediction returned","service":"model-service","request_id":"a","rows":3,"first_row":0,"inputs":{"bill_length_mm":[45.2,39,50]},"outputs":{"body_mass_g":[5275.7,3700.1,4800]}}`,
		`{"level":"info","time":"2026-12-02T19:00:01Z","msg":"request","service":"model-service","request_id":"a","status":200}`,
		`{"level":"warn","time":"2026-12-02T19:00:02Z","msg":"request","service":"model-service","request_id":"b","status":404}`,
		`{"level":"info","time":"2026-12-02T19:00:03Z","msg":"prediction returned","service":"model-service","request_id":"c","rows":1,"first_row":0,"inputs":{"bill_length_mm":[40]},"outputs":{"body_mass_g":[4000]}}`,
		`{"level":"info","time":"2026-12-02T19:00:04Z","msg":"shutdown complete","service":"model-service"}`,
	}, "\n") + "\n"
	var kept strings.Builder
	w := bufio.NewWriter(&kept)
	lines, records, err := sink(strings.NewReader(output), w)
	if err != nil {
		t.Fatal(err)
	}
	w.Flush()
	if lines != 7 || records != 4 {
		t.Errorf("got %d lines, %d records; want 7 lines, 4 records", lines, records)
	}
	want := []string{`"msg":"service started"`, `"level":"warn"`, `"msg":"shutdown complete"`}
	got := strings.Split(strings.TrimSuffix(kept.String(), "\n"), "\n")
	if len(got) != len(want) {
		t.Fatalf("kept %d lines, want %d:\n%s", len(got), len(want), kept.String())
	}
	for i, w := range want {
		if !strings.Contains(got[i], w) {
			t.Errorf("kept line %d is %s, want the one with %s", i, got[i], w)
		}
	}
}

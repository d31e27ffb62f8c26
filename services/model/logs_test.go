package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestLogsCompleteAfterStop sends predictions, stops the service with
// SIGTERM or SIGINT, and reads its stdout: every request has its access
// line and both prediction events, every scored record is in the log with
// its inputs and output, and nothing after the last request was lost to
// the log buffer.
func TestLogsCompleteAfterStop(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			p := start(t)
			p.waitReady(t)
			const singles, batch = 300, 250
			var records strings.Builder
			records.WriteByte('[')
			for i := range batch {
				if i > 0 {
					records.WriteByte(',')
				}
				fmt.Fprintf(&records, `{"bill_length_mm": %.1f, "species": "Adelie", "sex": "female"}`, 35+float64(i)/10)
			}
			records.WriteByte(']')
			post := func(body string) {
				resp, err := http.Post(p.url("/predict"), "application/json", strings.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d", resp.StatusCode)
				}
			}
			for i := range singles {
				post(fmt.Sprintf(`{"bill_length_mm": %d, "species": "Gentoo", "sex": "male"}`, 40+i%10))
			}
			post(records.String())
			if err := p.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if code := p.wait(t); code != 0 {
				t.Fatalf("exit code %d", code)
			}

			var access, requested, returned, logged int
			var last map[string]any
			sc := bufio.NewScanner(strings.NewReader(p.stdout.String()))
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				var line map[string]any
				if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
					t.Fatalf("not a JSON line: %q", sc.Text())
				}
				if _, ok := line["caller"]; ok {
					t.Fatalf("caller annotation on the request path: %s", sc.Text())
				}
				switch line["msg"] {
				case "request":
					if line["route"] == "/predict" {
						access++
					}
				case "prediction requested":
					requested++
				case "prediction returned":
					returned++
					in, _ := line["inputs"].(map[string]any)
					out, _ := line["outputs"].(map[string]any)
					bill, _ := in["bill_length_mm"].([]any)
					species, _ := in["species"].([]any)
					sex, _ := in["sex"].([]any)
					mass, _ := out["body_mass_g"].([]any)
					if len(mass) == 0 || len(bill) != len(mass) || len(species) != len(mass) || len(sex) != len(mass) {
						t.Fatalf("columns missing or of unequal length: %s", sc.Text())
					}
					logged += len(mass)
				}
				last = line
			}
			if access != singles+1 || requested != singles+1 {
				t.Errorf("%d access lines and %d prediction requested events for %d requests", access, requested, singles+1)
			}
			if want := singles + (batch+99)/100; returned != want {
				t.Errorf("%d prediction returned lines, want %d", returned, want)
			}
			if logged != singles+batch {
				t.Errorf("%d records logged for %d predictions", logged, singles+batch)
			}
			if last["msg"] != "shutdown complete" {
				t.Errorf("the last line is %v, want shutdown complete", last)
			}
			if t.Failed() {
				fmt.Fprintln(os.Stderr, p.stdout.String()[:min(4000, len(p.stdout.String()))])
			}
		})
	}
}

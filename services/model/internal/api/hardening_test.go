package api

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/palmerops/penguins/pkg/service"
	"github.com/palmerops/penguins/services/model/internal/perfdata"
)

// TestBodyTimeoutIs408: a body that stops arriving gets a 408 that says
// so plainly, on a real server with a short read timeout; the read error,
// which names the server's address and port, is only logged. Before, it
// was a 400 with "read tcp 127.0.0.1:9081->127.0.0.1:36482: i/o timeout".
func TestBodyTimeoutIs408(t *testing.T) {
	f := newFixture(t, testLimits)
	hs := service.NewServer(f.srv.Handler(), service.Timeouts{ReadHeader: time.Second, Read: 300 * time.Millisecond, Write: 10 * time.Second, Idle: time.Second})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })

	for _, path := range []string{"/predict", "/v2/models/penguin_model/infer"} {
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		// Ten of the hundred bytes promised, then nothing.
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[{\"bill_le", path)
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		conn.Close()
		if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(b), "did not arrive in full") {
			t.Errorf("%s: %d %s; want 408 saying the body did not arrive", path, resp.StatusCode, b)
		}
		for _, internal := range []string{"127.0.0.1", "tcp", "i/o timeout"} {
			if strings.Contains(string(b), internal) {
				t.Errorf("%s: the answer reveals %q: %s", path, internal, b)
			}
		}
	}
	found := 0
	for _, e := range f.logs.FilterMessage("request rejected").All() {
		if m := e.ContextMap(); fmt.Sprint(m["status"]) == "408" && strings.Contains(fmt.Sprint(m["error"]), "i/o timeout") {
			found++
		}
	}
	if found != 2 {
		t.Errorf("%d rejections logged with the read error, want 2", found)
	}
}

// TestContentEncodingRefused: a gzip body is refused with 415 and
// Accept-Encoding: identity, not read as malformed JSON with the
// compressed bytes echoed.
func TestContentEncodingRefused(t *testing.T) {
	f := newFixture(t, testLimits)
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write([]byte(perfdata.Single))
	w.Close()
	for _, path := range []string{"/predict", "/v2/models/penguin_model/infer"} {
		for _, coding := range []string{"gzip", "br", "identity, gzip"} {
			resp, b := f.do(t, http.MethodPost, path, "application/json", gz.String(), "Content-Encoding", coding)
			if resp.StatusCode != http.StatusUnsupportedMediaType || resp.Header.Get("Accept-Encoding") != "identity" ||
				!strings.Contains(string(b), "is not supported") || bytes.Contains(b, gz.Bytes()[:4]) {
				t.Errorf("%s with Content-Encoding %s: %d, Accept-Encoding %q, %s", path, coding, resp.StatusCode, resp.Header.Get("Accept-Encoding"), b)
			}
		}
	}
	// identity is no coding at all.
	if resp, b := f.do(t, http.MethodPost, "/predict", "application/json", perfdata.Single, "Content-Encoding", "identity"); resp.StatusCode != 200 {
		t.Errorf("Content-Encoding identity: %d %s", resp.StatusCode, b)
	}
}

// TestOIPIntegerDatatypes: an integer tensor takes integers in its range.
func TestOIPIntegerDatatypes(t *testing.T) {
	f := newFixture(t, testLimits)
	for _, c := range []struct{ dt, data string }{{"INT8", "[45]"}, {"UINT8", "[45]"}, {"INT64", "[45]"}, {"FP32", "[45.5]"}, {"FP16", "[4.55e1]"}} {
		body := `{"inputs": [` + tensor("bill_length_mm", c.dt, "[1]", c.data) + `,` + tensor("species", "BYTES", "[1]", `["Gentoo"]`) + `,` +
			tensor("sex", "BYTES", "[1]", `["male"]`) + `]}`
		if resp, b := f.do(t, http.MethodPost, "/v2/models/penguin_model/infer", "application/json", body); resp.StatusCode != 200 {
			t.Errorf("%s %s: %d %s", c.dt, c.data, resp.StatusCode, b)
		}
	}
}

// TestDocsSecurityHeaders: /docs carries the frontend's security headers,
// and its policy allows exactly the page's own inline stylesheet (hashed
// here independently of the server) and nothing the page would need
// beyond it: no script, no style attribute.
func TestDocsSecurityHeaders(t *testing.T) {
	f := newFixture(t, testLimits)
	resp, page := f.do(t, http.MethodGet, "/docs", "", "")
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %s", csp, want)
		}
	}
	for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var styles []string
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		if n.Data == "script" {
			t.Error("the page has a script, which its policy blocks")
		}
		if n.Data == "style" {
			styles = append(styles, n.FirstChild.Data)
		}
		for _, a := range n.Attr {
			if a.Key == "style" || strings.HasPrefix(a.Key, "on") {
				t.Errorf("<%s %s=…> is blocked by the policy", n.Data, a.Key)
			}
		}
	}
	if len(styles) != 1 {
		t.Fatalf("%d <style> elements, want 1", len(styles))
	}
	sum := sha256.Sum256([]byte(styles[0]))
	if want := "style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, want) {
		t.Errorf("Content-Security-Policy %q lacks %s", csp, want)
	}
}

// TestPoolsDropWhatLargeRequestsGrew: a decoder that decoded a large batch,
// or a large rejected body, is not pooled, nor is a buffer that grew past
// maxPooledBuffer; ordinary ones are. (make perf measures the memory.)
func TestPoolsDropWhatLargeRequestsGrew(t *testing.T) {
	d := newDecoder()
	big := perfdata.RawBatch(maxPooledRows + 1)
	in, err := d.decode(big, 1_000_000, nil)
	if err != nil || keep(len(big), len(in), true) {
		t.Errorf("a %d-row batch: err %v, kept %v", len(in), err, keep(len(big), len(in), true))
	}
	batch := perfdata.Batch(maxPooledRows)
	if in, err := d.decode(batch, 1_000_000, nil); err != nil || !keep(len(batch), len(in), true) {
		t.Errorf("make perf's %d-row batch: err %v, not kept", len(in), err)
	}
	if len(batch) > maxPooledBuffer {
		t.Errorf("make perf's batch (%d bytes) does not fit a pooled buffer (%d)", len(batch), maxPooledBuffer)
	}
	// A million-element array is one bad record, yet grows the parser.
	junk := "[" + strings.Repeat("1,", 500_000) + "1]"
	if _, err := d.decode([]byte(junk), 1_000_000, nil); err == nil || keep(len(junk), 0, false) {
		t.Errorf("a rejected %d-byte body: err %v, kept %v", len(junk), err, keep(len(junk), 0, false))
	}
	if !keep(100, 0, false) {
		t.Error("a small rejected body's decoder is not kept")
	}

	s := &Server{}
	s.buffers.New = func() any { return new(bytes.Buffer) }
	large := bytes.NewBuffer(make([]byte, 0, maxPooledBuffer+1))
	s.putBuffer(large)
	for range 10 {
		if b := s.buffers.Get().(*bytes.Buffer); b == large {
			t.Fatal("a buffer larger than maxPooledBuffer was pooled")
		}
	}
	s.release.mu.Lock()
	armed := s.release.timer != nil
	s.release.mu.Unlock()
	if !armed {
		t.Error("dropping a large buffer did not schedule the memory's release")
	}
}

// TestREADMEStatesTheErrorBound: the bound the README gives is the one
// TestErrorsDoNotAmplify checks.
func TestREADMEStatesTheErrorBound(t *testing.T) {
	readme, err := os.ReadFile("../../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%d KiB", maxErrorBytes>>10); !strings.Contains(string(readme), "no error answer and no log line is larger than "+want) {
		t.Errorf("the README does not state the bound of %s on error answers and log lines", want)
	}
}

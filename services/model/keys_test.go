package main

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func keys(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := keysMain(args, strings.NewReader(stdin), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestKeysCommands(t *testing.T) {
	file := filepath.Join(t.TempDir(), "api-keys")
	code, key, stderr := keys(t, "", "add", "-file", file, "-name", "frontend", "-scope", "read,predict")
	key = strings.TrimSuffix(key, "\n")
	if code != 0 || len(key) < 32 || strings.ContainsAny(key, " \n") || !strings.Contains(stderr, "shown once") {
		t.Fatalf("add: %d %q %q", code, key, stderr)
	}
	if code, out, _ := keys(t, strings.Repeat("s", 40)+"\n", "add", "-file", file, "-name", "dashboard", "-scope", "read", "-stdin"); code != 0 || out != strings.Repeat("s", 40)+"\n" {
		t.Errorf("add -stdin: %d %q", code, out)
	}
	code, out, _ := keys(t, "", "list", "-file", file)
	if flat := strings.Join(strings.Fields(out), " "); code != 0 || !strings.Contains(flat, "frontend predict,read") || !strings.Contains(flat, "dashboard read") || strings.Contains(out, "sha256") {
		t.Errorf("list: %d\n%s", code, out)
	}
	data, _ := os.ReadFile(file)
	if strings.Contains(string(data), key) || strings.Contains(string(data), strings.Repeat("s", 40)) {
		t.Error("the keys file holds a key")
	}
	for _, tc := range []struct {
		stdin string
		args  []string
		code  int
		want  string
	}{
		{"", []string{}, 2, "usage: model-service keys add"},
		{"", []string{"rotate"}, 2, `unknown command "rotate"`},
		{"", []string{"add", "-file", file, "-scope", "read"}, 2, "-name and -scope required"},
		{"", []string{"add", "-file", file, "-name", "x", "-scope", "admin"}, 1, `-scope: unknown scope "admin"`},
		{"", []string{"add", "-file", file, "-name", "frontend", "-scope", "read"}, 1, `a key named "frontend" exists`},
		{"", []string{"add", "-file", file, "-name", "Bad Name", "-scope", "read"}, 1, `name "Bad Name"`},
		{"tooshort\n", []string{"add", "-file", file, "-name", "x", "-scope", "read", "-stdin"}, 1, "shorter than the minimum 32"},
		{"", []string{"add", "-file", file, "-name", "x", "-scope", "read", "-stdin"}, 1, "no key on standard input"},
		{"", []string{"revoke", "-file", file}, 2, "-name required"},
		{"", []string{"revoke", "-file", file, "-name", "nobody"}, 1, `no key named "nobody"`},
		{"", []string{"list", "-file", file + ".missing"}, 1, "no such file"},
	} {
		code, _, stderr := keys(t, tc.stdin, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("keys %q: exit %d, stderr %q; want %d and %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
	if code, _, _ := keys(t, "", "revoke", "-file", file, "-name", "dashboard"); code != 0 {
		t.Fatal("revoke failed")
	}
	if _, out, _ := keys(t, "", "list", "-file", file); strings.Contains(out, "dashboard") {
		t.Errorf("revoked key still listed:\n%s", out)
	}
}

// With a keys file, the service asks for keys and stops accepting a
// revoked one within seconds, without a restart; metrics move to their own
// listener when MODEL_METRICS_ADDR says so. In dev without a keys file, it
// says once that auth is off.
func TestAuthInTheRunningService(t *testing.T) {
	file := filepath.Join(t.TempDir(), "api-keys")
	_, key, _ := keys(t, "", "add", "-file", file, "-name", "client", "-scope", "predict,read")
	key = strings.TrimSpace(key)
	metricsAddr := freeAddr(t)
	p := start(t, "MODEL_ENV=prod", "MODEL_API_KEYS_FILE="+file, "MODEL_METRICS_ADDR="+metricsAddr)
	p.waitReady(t)
	get := func(url, key string) int {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := get(p.url("/metadata"), key); s != 200 {
		t.Fatalf("with the key: %d", s)
	}
	if s := get(p.url("/metadata"), ""); s != 401 {
		t.Errorf("without a key: %d", s)
	}
	if s := get("http://"+metricsAddr+"/metrics", ""); s != 200 {
		t.Errorf("metrics listener: %d", s)
	}
	if s := get(p.url("/metrics"), ""); s != 401 {
		t.Errorf("/metrics on the API's listener without a key, with MODEL_METRICS_ADDR set: %d", s)
	}
	// A broken edit is refused; the key keeps working.
	good, _ := os.ReadFile(file)
	os.WriteFile(file, append(good, "broken line\n"...), 0o644)
	time.Sleep(3 * time.Second) // longer than the 2s poll: the refusal has happened
	if s := get(p.url("/metadata"), key); s != 200 {
		t.Errorf("after a broken edit: %d, want the previous keys kept", s)
	}
	p.waitLog(t, "keys file refused; the previous keys stay in force", 1)
	os.WriteFile(file, good, 0o644)
	if code, _, stderr := keys(t, "", "revoke", "-file", file, "-name", "client"); code != 0 {
		t.Fatal(stderr)
	}
	deadline := time.Now().Add(10 * time.Second)
	for get(p.url("/metadata"), key) != 401 {
		if time.Now().After(deadline) {
			t.Fatal("the revoked key still works after 10s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if strings.Contains(p.stdout.String()+p.stderr.String(), key) {
		t.Error("the key is in the service's output")
	}

	dev := start(t)
	dev.waitReady(t)
	if n := strings.Count(dev.waitLog(t, `"msg":"listening"`, 1), "auth off"); n != 1 {
		t.Errorf("dev without a keys file logged 'auth off' %d times, want once", n)
	}
	if s := get(dev.url("/metadata"), ""); s != 200 {
		t.Errorf("dev, auth off, without a key: %d", s)
	}
	// A bad keys file is refused at start, naming the line.
	os.WriteFile(file, []byte("a sha256:00 predict 2026-12-01T06:40:00Z\n"), 0o644)
	bad := start(t, "MODEL_API_KEYS_FILE="+file)
	if code := bad.wait(t); code != 1 || !strings.Contains(bad.stdout.String()+bad.stderr.String(), "line 1: the hash field") {
		t.Errorf("bad keys file: exit %d\n%s%s", code, bad.stdout, bad.stderr)
	}
}

package main

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestModelAPIKey runs the real model service with auth on (prod settings)
// and the frontend with its own key: pages work, and once the key is
// revoked, without restarting either, the frontend reports an auth
// failure, distinct from "unavailable", on its pages and in its logs.
func TestModelAPIKey(t *testing.T) {
	dir := t.TempDir()
	modelBin, frontBin := filepath.Join(dir, "model-service"), filepath.Join(dir, "frontend-service")
	for bin, pkg := range map[string]string{modelBin: "../model", frontBin: "."} {
		if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	keys, keyPath := filepath.Join(dir, "api-keys"), filepath.Join(dir, "frontend.key")
	add := exec.Command(modelBin, "keys", "add", "-file", keys, "-name", "frontend", "-scope", "predict,read")
	add.Env = []string{"PATH=" + os.Getenv("PATH")}
	key, err := add.Output()
	if err != nil {
		t.Fatalf("keys add: %v", err)
	}
	if err := os.WriteFile(keyPath, key, 0o600); err != nil {
		t.Fatal(err)
	}

	modelAddr, frontAddr := freePort(t), freePort(t)
	startProc(t, modelBin, "MODEL_ADDR="+modelAddr, "MODEL_ENV=prod", "MODEL_API_KEYS_FILE="+keys)
	waitReady(t, "http://"+modelAddr+"/readyz")
	logPath := filepath.Join(dir, "frontend.log")
	front := startProcLog(t, frontBin, logPath, "FRONTEND_ADDR="+frontAddr, "FRONTEND_ENV=prod",
		"FRONTEND_MODEL_URL=http://"+modelAddr, "FRONTEND_MODEL_API_KEY_FILE="+keyPath)
	waitReady(t, "http://"+frontAddr+"/readyz")

	page := func(path string) (int, string) {
		resp, err := http.Get("http://" + frontAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	const predict = "/predict?bill_length_mm=45&species=Gentoo&sex=male"
	if status, body := page(predict); status != 200 || !strings.Contains(body, `data-testid="mass"`) {
		t.Fatalf("predict page with the key: %d", status)
	}
	if status, body := page("/status"); status != 200 || strings.Contains(body, "auth failure") {
		t.Fatalf("status page with the key: %d", status)
	}
	// Without the frontend's key, the model API refuses.
	if resp, err := http.Post("http://"+modelAddr+"/predict", "application/json", strings.NewReader(`{"bill_length_mm": 45, "species": "Gentoo", "sex": "male"}`)); err != nil || resp.StatusCode != 401 {
		t.Fatalf("model API without a key: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	revoke := exec.Command(modelBin, "keys", "revoke", "-file", keys, "-name", "frontend")
	if out, err := revoke.CombinedOutput(); err != nil {
		t.Fatalf("keys revoke: %v\n%s", err, out)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		status, body := page(predict)
		if strings.Contains(body, "Model API auth failure") {
			if status != http.StatusBadGateway || strings.Contains(body, "unavailable") {
				t.Errorf("after revocation: %d, and the page says unavailable: %v", status, strings.Contains(body, "unavailable"))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("15s after revocation the predict page still says %d", status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, body := page("/status"); !strings.Contains(body, "Model API auth failure") || !strings.Contains(body, "401") {
		t.Error("the Status page does not report the auth failure")
	}
	front.stop(t) // every line written
	logs, _ := os.ReadFile(logPath)
	if !strings.Contains(string(logs), "model API auth failure") {
		t.Error("the frontend's logs do not report the auth failure")
	}
	if strings.Contains(string(logs), strings.TrimSpace(string(key))) {
		t.Error("the frontend logged its key")
	}
}

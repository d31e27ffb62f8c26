package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/modelapi"
	"github.com/palmerops/penguins/pkg/penguins"
	"github.com/palmerops/penguins/services/model/internal/pgdata/pgtest"
)

// TestPostgresEndToEnd runs the binaries against a real PostgreSQL database:
// seed (twice), train from it with the password in a secret file, serve
// that model, and fail cleanly on a wrong password without touching the
// store.
func TestPostgresEndToEnd(t *testing.T) {
	url, password := pgtest.New(t)
	bin := t.TempDir()
	for name, pkg := range map[string]string{"model-data": ".", "model-service": "../.."} {
		if out, err := exec.Command("go", "build", "-o", filepath.Join(bin, name), pkg).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	secret := filepath.Join(t.TempDir(), "db_password")
	if err := os.WriteFile(secret, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dbEnv := []string{"PENGUINS_DB_URL=" + url, "PENGUINS_DB_PASSWORD_FILE=" + secret}
	run := func(env []string, args ...string) (string, int) {
		cmd := exec.Command(filepath.Join(bin, "model-data"), args...)
		cmd.Env = append(cleanEnv(), env...)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(out), password) {
			t.Errorf("%v printed the database password", args)
		}
		return string(out), code
	}

	out, code := run(dbEnv, "seed")
	if code != 0 || !strings.Contains(out, "1 migration(s) applied, 344 row(s) inserted, 0 updated, 0 unchanged") {
		t.Fatalf("first seed (exit %d): %s", code, out)
	}
	out, code = run(dbEnv, "seed")
	if code != 0 || !strings.Contains(out, "0 migration(s) applied, 0 row(s) inserted, 0 updated, 344 unchanged") {
		t.Fatalf("second seed (exit %d): %s", code, out)
	}

	store := t.TempDir()
	out, code = run(dbEnv, "train", "-store", store)
	if code != 0 || !strings.Contains(out, "from postgres://") {
		t.Fatalf("train from PostgreSQL (exit %d): %s", code, out)
	}
	rows, _ := penguins.Embedded{}.Load(context.Background())
	a, _, err := massmodel.Store{Dir: store}.Load(massmodel.Name, "")
	if err != nil {
		t.Fatal(err)
	}
	if a.Data.SHA256 != penguins.Digest(rows) || a.Data.TrainingRows != 333 {
		t.Errorf("trained from PostgreSQL: %+v", a.Data)
	}

	// Evaluate on the table's penguins by year: the same metrics as
	// model-service evaluate on the CSV (the same rows), pinned once.
	out, code = run(dbEnv, "evaluate", "-store", store)
	if code != 0 || !strings.Contains(out, "scored 333 of 344 rows of postgres://") || !strings.Contains(out, "2009-01-01    year  117    rmse") {
		t.Fatalf("evaluate from PostgreSQL (exit %d): %s", code, out)
	}
	pinned, err := massmodel.Store{Dir: store}.Metrics(massmodel.Name, a.Version)
	if err != nil || len(pinned) != 12 {
		t.Fatalf("pinned %d metrics: %v", len(pinned), err)
	}
	csv := filepath.Join(t.TempDir(), "penguins.csv")
	os.WriteFile(csv, penguins.EmbeddedCSV(), 0o644)
	cmp := exec.Command(filepath.Join(bin, "model-service"), "evaluate", "-store", store, "-data", csv, "-date-column", "year", "-period", "year", "-overwrite")
	cmp.Env = cleanEnv()
	if b, err := cmp.CombinedOutput(); err != nil {
		t.Fatalf("model-service evaluate: %v\n%s", err, b)
	}
	again, _ := massmodel.Store{Dir: store}.Metrics(massmodel.Name, a.Version)
	for i := range pinned {
		if pinned[i] != again[i] {
			t.Errorf("from PostgreSQL %+v, from the CSV %+v", pinned[i], again[i])
		}
	}
	if out, code = run(dbEnv, "evaluate", "-store", store); code != 1 || !strings.Contains(out, "overlap") {
		t.Errorf("evaluating again without -overwrite: exit %d: %s", code, out)
	}

	// A wrong password fails fast and clearly; the store keeps its model.
	bad := filepath.Join(t.TempDir(), "wrong")
	os.WriteFile(bad, []byte("wrong-password"), 0o600)
	began := time.Now()
	out, code = run([]string{"PENGUINS_DB_URL=" + url, "PENGUINS_DB_PASSWORD_FILE=" + bad}, "train", "-store", store)
	if code != 1 || !strings.Contains(out, "authentication failed") || time.Since(began) > 10*time.Second {
		t.Errorf("wrong password: exit %d after %s: %s", code, time.Since(began), out)
	}
	if vs, _ := (massmodel.Store{Dir: store}).Versions(massmodel.Name); len(vs) != 1 || vs[0] != a.Version {
		t.Errorf("the store changed after a failed train: %v", vs)
	}
	// Configuration errors name the variable.
	if out, code := run(nil, "seed"); code != 1 || !strings.Contains(out, "PENGUINS_DB_URL") {
		t.Errorf("no URL: exit %d: %s", code, out)
	}

	// The model service serves the model trained from the database.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	srv := exec.Command(filepath.Join(bin, "model-service"))
	srv.Env = append(cleanEnv(), "MODEL_ADDR="+addr, "MODEL_STORE="+store)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Process.Kill()
	var md modelapi.Metadata
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/metadata")
		if err != nil {
			continue
		}
		err = json.NewDecoder(resp.Body).Decode(&md)
		resp.Body.Close()
		if resp.StatusCode == 200 && err == nil {
			break
		}
	}
	if md.Version != a.Version || !strings.HasPrefix(md.Data.Source, "postgres://") || md.Data.SHA256 != penguins.Digest(rows) {
		t.Errorf("served %s from %q (data %s)", md.Version, md.Data.Source, md.Data.SHA256)
	}
	// Its diagnostics come from the artifact, not from any copy of the data.
	resp, err := http.Get("http://" + addr + "/diagnostics")
	if err != nil {
		t.Fatal(err)
	}
	var diag modelapi.Diagnostics
	err = json.NewDecoder(resp.Body).Decode(&diag)
	resp.Body.Close()
	if err != nil || !diag.Available || diag.Source != modelapi.DiagnosticsFromArtifact || diag.Version != a.Version || len(diag.Rows) != 333 {
		t.Errorf("diagnostics of the model trained from PostgreSQL: available %v from %q, %d rows (%v)", diag.Available, diag.Source, len(diag.Rows), err)
	}
}

// cleanEnv is the test's environment without the model service's and
// model-data's variables.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MODEL_") && !strings.HasPrefix(kv, envPrefix+"_") {
			env = append(env, kv)
		}
	}
	return env
}

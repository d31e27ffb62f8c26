package main

import (
	"context"
	"encoding/json"
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

// TestPostgresEndToEnd runs the binary against a real PostgreSQL database:
// seed (twice), train from it with the password in a secret file, serve a
// model trained from it at start-up, and fail cleanly on a wrong password
// without touching the store.
func TestPostgresEndToEnd(t *testing.T) {
	url, password := pgtest.New(t)
	secret := filepath.Join(t.TempDir(), "db_password")
	if err := os.WriteFile(secret, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dbEnv := []string{"MODEL_DATABASE_URL=" + url, "MODEL_DATABASE_PASSWORD_FILE=" + secret}
	run := func(env []string, args ...string) (string, int) {
		cmd := exec.Command(binary, args...)
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

	// A wrong password fails fast and clearly; the store keeps its model.
	bad := filepath.Join(t.TempDir(), "wrong")
	os.WriteFile(bad, []byte("wrong-password"), 0o600)
	began := time.Now()
	out, code = run([]string{"MODEL_DATABASE_URL=" + url, "MODEL_DATABASE_PASSWORD_FILE=" + bad}, "train", "-store", store)
	if code != 1 || !strings.Contains(out, "authentication failed") || time.Since(began) > 10*time.Second {
		t.Errorf("wrong password: exit %d after %s: %s", code, time.Since(began), out)
	}
	if vs, _ := (massmodel.Store{Dir: store}).Versions(massmodel.Name); len(vs) != 1 || vs[0] != a.Version {
		t.Errorf("the store changed after a failed train: %v", vs)
	}

	// Serving with no store trains from the database at start-up.
	p := start(t, dbEnv...)
	p.waitReady(t)
	resp, err := http.Get(p.url("/metadata"))
	if err != nil {
		t.Fatal(err)
	}
	var md modelapi.Metadata
	json.NewDecoder(resp.Body).Decode(&md)
	resp.Body.Close()
	if md.Data.SHA256 != penguins.Digest(rows) || !strings.Contains(md.Serving.LoadedFrom, "postgres://") {
		t.Errorf("served model: data %s from %q", md.Data.SHA256, md.Serving.LoadedFrom)
	}
	if logs := p.stdout.String() + p.stderr.String(); strings.Contains(logs, password) || !strings.Contains(logs, `"MODEL_DATABASE_URL":"****"`) {
		t.Errorf("logs show the password or the unmasked URL")
	}
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/modelapi"
	"github.com/palmerops/penguins/pkg/penguins"
	"github.com/palmerops/penguins/services/model/internal/pgdata/pgtest"
)

// TestREADMEPostgres runs the README's "Training from PostgreSQL" commands
// as written, in one shell, against a real PostgreSQL: the exports, seed,
// train and then the model service serving what was trained. Only the
// values of the exported settings are the test's own (its database and
// password file instead of db.example's), and the service listens on a
// free loopback port. It runs in a directory of links to the tree's
// entries, so the README's ./models is a new, temporary one.
func TestREADMEPostgres(t *testing.T) {
	url, password := pgtest.New(t)
	root, err := filepath.Abs("../../../..")
	if err != nil {
		t.Fatal(err)
	}
	// The tree, but a ./models of its own.
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, e := range entries {
		if e.Name() == "models" {
			continue
		}
		if err := os.Symlink(filepath.Join(root, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	secret := filepath.Join(t.TempDir(), "db_password")
	if err := os.WriteFile(secret, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	values := map[string]string{
		"PENGUINS_DB_URL":           url,
		"PENGUINS_DB_PASSWORD_FILE": secret,
		"PENGUINS_DB_PASSWORD":      password,
	}

	lines := readmeBlock(t, filepath.Join(root, "README.md"), "### Training from PostgreSQL")
	export := regexp.MustCompile(`^export ([A-Za-z_][A-Za-z0-9_]*)=`)
	var script []string
	var seeds, trains int
	for _, line := range lines {
		if m := export.FindStringSubmatch(line); m != nil {
			v, ok := values[m[1]]
			if !ok {
				t.Fatalf("the README exports %s, which model-data does not read: %s", m[1], line)
			}
			line = "export " + m[1] + "='" + strings.ReplaceAll(v, "'", `'\''`) + "'"
		}
		if strings.Contains(line, "model-data seed") {
			seeds++
		}
		if strings.Contains(line, "model-data train") {
			trains++
		}
		script = append(script, line)
	}
	last := script[len(script)-1]
	if seeds != 1 || trains != 1 || !strings.Contains(last, "go run ./services/model ") {
		t.Fatalf("the README's PostgreSQL block no longer seeds, trains and serves; update this test:\n%s", strings.Join(lines, "\n"))
	}
	t.Logf("running the README's commands:\n%s", strings.Join(lines, "\n"))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var out bytes.Buffer
	sh := exec.Command("bash", "-e", "-c", strings.Join(script, "\n"))
	sh.Dir = dir
	sh.Env = append(cleanEnv(), "MODEL_ADDR="+addr)
	sh.Stdout, sh.Stderr = &out, &out
	// Its own process group, so that go run's child, the service, is
	// signalled too.
	sh.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sh.Wait() }()
	stop := func(sig syscall.Signal) error {
		syscall.Kill(-sh.Process.Pid, sig)
		select {
		case err := <-done:
			return err
		case <-time.After(15 * time.Second):
			syscall.Kill(-sh.Process.Pid, syscall.SIGKILL)
			return errors.New("still running 15s after " + sig.String())
		}
	}

	// go run builds each program first, so allow for compiling.
	md, err := waitServing(addr, done, 3*time.Minute)
	if err != nil {
		if !errors.Is(err, errExited) {
			stop(syscall.SIGKILL)
		}
		t.Fatalf("the README's commands did not end up serving: %v\n%s", err, out.String())
	}
	// Ctrl-C, as in a terminal: go run waits for the service, which drains.
	// (go run itself exits 1 after an interrupt, whatever its program's
	// status, so the logs tell whether the drain was clean.)
	var ee *exec.ExitError
	if err := stop(syscall.SIGINT); err != nil && !errors.As(err, &ee) {
		t.Errorf("after SIGINT: %v\n%s", err, out.String())
	}

	log := out.String()
	if strings.Contains(log, password) {
		t.Error("the README's commands printed the database password")
	}
	for _, want := range []string{"seeded postgres://", "344 row(s) inserted", "trained penguin_model version " + md.Version + " from postgres://", `"msg":"service started"`, `"msg":"shutdown complete"`} {
		if !strings.Contains(log, want) {
			t.Errorf("output lacks %q:\n%s", want, log)
		}
	}
	rows, _ := penguins.Embedded{}.Load(context.Background())
	a, _, err := massmodel.Store{Dir: filepath.Join(dir, "models")}.Load(massmodel.Name, "")
	if err != nil {
		t.Fatalf("the README's ./models: %v", err)
	}
	if md.Version != a.Version || !strings.HasPrefix(md.Data.Source, "postgres://") || md.Data.SHA256 != penguins.Digest(rows) {
		t.Errorf("served %s from %q (data %s), want %s trained from PostgreSQL on the penguins", md.Version, md.Data.Source, md.Data.SHA256, a.Version)
	}
}

// readmeBlock returns the lines of the first ```sh block after heading.
func readmeBlock(t *testing.T, path, heading string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	state := 0 // 0: before the heading, 1: before the block, 2: in it
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case state == 0 && line == heading:
			state = 1
		case state == 1 && line == "```sh":
			state = 2
		case state == 1 && strings.HasPrefix(line, "#"):
			t.Fatalf("%s: no sh block under %q", path, heading)
		case state == 2 && line == "```":
			if len(lines) == 0 {
				t.Fatalf("%s: empty sh block under %q", path, heading)
			}
			return lines
		case state == 2:
			lines = append(lines, line)
		}
	}
	t.Fatalf("%s: no complete sh block under %q", path, heading)
	return nil
}

var errExited = errors.New("the commands exited")

// waitServing polls the model service at addr until its metadata answers.
// It gives up at the deadline or, with errExited, when the commands have
// ended (their exit status received from exited).
func waitServing(addr string, exited <-chan error, within time.Duration) (modelapi.Metadata, error) {
	var md modelapi.Metadata
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(within)
	for {
		resp, err := client.Get("http://" + addr + "/metadata")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&md)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && err == nil {
				return md, nil
			}
		}
		select {
		case err := <-exited:
			return md, fmt.Errorf("%w before serving (%v)", errExited, err)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return md, fmt.Errorf("not serving within %s", within)
		}
	}
}

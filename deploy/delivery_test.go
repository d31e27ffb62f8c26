package deploy

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
)

// The parts of a GitHub Actions workflow the delivery tests look at
// (YAML 1.2, so that the key "on" stays a string).
type workflow struct {
	On   map[string]any `yaml:"on"`
	Jobs map[string]workflowJob
}

type workflowJob struct {
	If       string
	Needs    any
	Uses     string
	With     map[string]string
	Env      map[string]string
	Outputs  map[string]string
	Services map[string]struct {
		Image string
		Env   map[string]string
		Ports []string
	}
	Steps []workflowStep
}

type workflowStep struct {
	Name, ID, If, Uses, Run string
	With                    map[string]string
	Env                     map[string]string
}

func (j workflowJob) needs() []string {
	switch n := j.Needs.(type) {
	case string:
		return []string{n}
	case []any:
		var out []string
		for _, v := range n {
			out = append(out, fmt.Sprint(v))
		}
		return out
	}
	return nil
}

// step returns the job's step named name, failing the test without one.
func (j workflowJob) step(t *testing.T, name string) workflowStep {
	t.Helper()
	for _, s := range j.Steps {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no step %q", name)
	return workflowStep{}
}

func readWorkflow(t *testing.T, name string) workflow {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", ".github", "workflows", name))
	if err != nil {
		t.Fatal(err)
	}
	var w workflow
	if err := yaml.Unmarshal(b, &w); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return w
}

// TestReleaseGatedOnCI: release runs only as a job of ci, after all of
// ci's checks, on pushes (main and v* tags); nothing else starts it or
// promote, and prod follows staging only with the digests staging applied.
func TestReleaseGatedOnCI(t *testing.T) {
	ci := readWorkflow(t, "ci.yml")
	rel, ok := ci.Jobs["release"]
	if !ok || rel.Uses != "./.github/workflows/release.yml" {
		t.Fatalf("ci has no release job calling release.yml: %+v", rel)
	}
	var checks []string
	for name := range ci.Jobs {
		if name != "release" {
			checks = append(checks, name)
		}
	}
	slices.Sort(checks)
	needs := rel.needs()
	slices.Sort(needs)
	if !slices.Equal(needs, checks) {
		t.Errorf("ci's release job needs %v, want every check: %v", needs, checks)
	}
	if rel.If != "github.event_name == 'push'" {
		t.Errorf("ci's release job runs if %q; want pushes only (not pull requests)", rel.If)
	}
	push, _ := ci.On["push"].(map[string]any)
	if fmt.Sprint(push["branches"]) != "[main]" || fmt.Sprint(push["tags"]) != "[v*]" {
		t.Errorf("ci runs on pushes to %v and tags %v; want main and v*", push["branches"], push["tags"])
	}

	// Only ci calls release, only release calls promote, and neither
	// has a trigger of its own.
	files, _ := filepath.Glob("../.github/workflows/*.yml")
	for _, f := range files {
		name := filepath.Base(f)
		w := readWorkflow(t, name)
		for jn, j := range w.Jobs {
			switch {
			case j.Uses == "./.github/workflows/release.yml" && name != "ci.yml",
				j.Uses == "./.github/workflows/promote.yml" && name != "release.yml":
				t.Errorf("%s job %s calls %s", name, jn, j.Uses)
			}
		}
		if _, ok := w.On["workflow_call"]; (name == "release.yml" || name == "promote.yml") && (!ok || len(w.On) != 1) {
			t.Errorf("%s is triggered by %v; want workflow_call only (ci's gate)", name, w.On)
		}
	}

	release := readWorkflow(t, "release.yml")
	for env, cond := range map[string]string{"dev": "github.ref == 'refs/heads/main'", "staging": "github.ref_type == 'tag'"} {
		j := release.Jobs[env]
		if j.Uses != "./.github/workflows/promote.yml" || j.With["environment"] != env || j.If != cond {
			t.Errorf("release job %s: uses %q, environment %q, if %q; want promote.yml to %s if %s", env, j.Uses, j.With["environment"], j.If, env, cond)
		}
	}
	prod := release.Jobs["prod"]
	if prod.With["environment"] != "prod" || !slices.Contains(prod.needs(), "staging") {
		t.Errorf("release's prod job: environment %q, needs %v; want prod after staging", prod.With["environment"], prod.needs())
	}
	for _, out := range []string{"model-digest", "frontend-digest"} {
		gate := fmt.Sprintf("needs.staging.outputs.%s == needs.images.outputs.%s", out, out)
		if !strings.Contains(prod.If, gate) || !strings.Contains(prod.If, "github.ref_type == 'tag'") {
			t.Errorf("release's prod job runs if %q; want it to require %s", prod.If, gate)
		}
		for _, env := range []string{"dev", "staging", "prod"} {
			if got := release.Jobs[env].With[out]; got != "${{ needs.images.outputs."+out+" }}" {
				t.Errorf("release job %s deploys %s %q; want the images job's", env, out, got)
			}
		}
	}
}

// TestCIDatabase: the ci test job runs a PostgreSQL service and hands the
// tests a URL that reaches it with its own credentials.
func TestCIDatabase(t *testing.T) {
	job := readWorkflow(t, "ci.yml").Jobs["test"]
	pg, ok := job.Services["postgres"]
	if !ok || !strings.HasPrefix(pg.Image, "postgres:") {
		t.Fatalf("ci's test job has no postgres service: %+v", job.Services)
	}
	raw := job.Env["PENGUINS_TEST_DATABASE_URL"]
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "postgres" || u.User == nil {
		t.Fatalf("PENGUINS_TEST_DATABASE_URL %q: %v", raw, err)
	}
	pass, _ := u.User.Password()
	if u.User.Username() != pg.Env["POSTGRES_USER"] || pass != pg.Env["POSTGRES_PASSWORD"] {
		t.Errorf("the URL's user %q does not match the service's POSTGRES_USER %q and its password", u.User.Username(), pg.Env["POSTGRES_USER"])
	}
	if !slices.Contains(pg.Ports, u.Port()+":5432") || u.Hostname() != "127.0.0.1" && u.Hostname() != "localhost" {
		t.Errorf("the URL reaches %s, the service publishes %v", u.Host, pg.Ports)
	}
	if !strings.Contains(job.step(t, "go test -race, every module").Run, "make unit") {
		t.Error("the step with the database is not the one that runs make unit")
	}
}

// TestToolchainPinned: every setup-go installs go.work's toolchain exactly
// (govulncheck judges the standard library of the release it runs on),
// and caches by every module's go.sum (there is no root go.sum).
func TestToolchainPinned(t *testing.T) {
	b, err := os.ReadFile("../go.work")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^toolchain go(1\.\d+\.\d+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("go.work has no toolchain line such as `toolchain go1.26.8`")
	}
	want := string(m[1])
	files, _ := filepath.Glob("../.github/workflows/*.yml")
	n := 0
	for _, f := range files {
		for jn, j := range readWorkflow(t, filepath.Base(f)).Jobs {
			for _, s := range j.Steps {
				if !strings.HasPrefix(s.Uses, "actions/setup-go@") {
					continue
				}
				n++
				if s.With["go-version"] != want || s.With["go-version-file"] != "" {
					t.Errorf("%s job %s: setup-go go-version %q, go-version-file %q; want go-version %q (go.work's toolchain)",
						filepath.Base(f), jn, s.With["go-version"], s.With["go-version-file"], want)
				}
				if s.With["cache-dependency-path"] != "**/go.sum" {
					t.Errorf("%s job %s: setup-go cache-dependency-path %q, want **/go.sum", filepath.Base(f), jn, s.With["cache-dependency-path"])
				}
			}
		}
	}
	if n < 4 {
		t.Errorf("found %d setup-go steps; the workflows have lost some", n)
	}
}

// fakeRegistry puts a docker command on PATH that records its arguments
// and keeps a registry of tag → digest in a file: push gives a tag the
// digest of its name, imagetools inspect answers from the registry,
// imagetools create copies a digest to a tag. sleep does nothing.
func fakeRegistry(t *testing.T, known map[string]string) (dir string, calls func() []string, registry func() map[string]string) {
	t.Helper()
	dir = t.TempDir()
	var reg strings.Builder
	for ref, d := range known {
		fmt.Fprintf(&reg, "%s %s\n", ref, d)
	}
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("registry", reg.String())
	write("docker", `#!/usr/bin/env bash
set -eu
here=$(dirname "$0")
echo "$*" >> "$here/calls"
case "$1 ${2:-} ${3:-}" in
"buildx imagetools inspect")
	d=$(awk -v r="$4" '$1 == r { d = $2 } END { print d }' "$here/registry")
	[ -n "$d" ] || { echo "ERROR: $4: not found" >&2; exit 1; }
	echo "$d" ;;
"buildx imagetools create")
	[ "$4" = --prefer-index=false ] && [ "$5" = --tag ] || { echo "unexpected: $*" >&2; exit 2; }
	src=$7
	echo "$6 ${src#*@}" >> "$here/registry" ;;
push*)
	echo "$2 sha256:$(printf '%s' "$2" | sha256sum | cut -d' ' -f1)" >> "$here/registry" ;;
esac
`)
	write("sleep", "#!/bin/sh\n")
	calls = func() []string {
		b, _ := os.ReadFile(filepath.Join(dir, "calls"))
		return strings.Split(strings.TrimSpace(string(b)), "\n")
	}
	registry = func() map[string]string {
		b, _ := os.ReadFile(filepath.Join(dir, "registry"))
		out := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if ref, d, ok := strings.Cut(line, " "); ok {
				out[ref] = d
			}
		}
		return out
	}
	return dir, calls, registry
}

// runStep runs a step's script with bash as a runner would, with the
// step's env variables given values by vals (each must be given) and
// GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files; PATH starts with bin.
// It returns the outputs, the combined output and the error.
func runStep(t *testing.T, s workflowStep, bin string, vals map[string]string) (map[string]string, string, error) {
	t.Helper()
	tmp := t.TempDir()
	out, summary := filepath.Join(tmp, "output"), filepath.Join(tmp, "summary")
	env := append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "GITHUB_OUTPUT="+out, "GITHUB_STEP_SUMMARY="+summary, "RUNNER_TEMP="+tmp)
	for k := range s.Env {
		v, ok := vals[k]
		if !ok {
			t.Fatalf("step %q reads %s; the test gives it no value", s.Name, k)
		}
		env = append(env, k+"="+v)
	}
	cmd := exec.Command("bash", "-e", "-c", s.Run)
	cmd.Dir = ".."
	cmd.Env = env
	combined, err := cmd.CombinedOutput()
	b, _ := os.ReadFile(out)
	outputs := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			outputs[k] = v
		}
	}
	return outputs, string(combined), err
}

func digestOf(ref string) string {
	h := sha256.Sum256([]byte(ref))
	return "sha256:" + hex.EncodeToString(h[:])
}

// TestBuiltOnceRetaggedByDigest runs the release images job's own steps
// against a fake registry: main builds each image once per commit (a
// re-run reuses what is there), and a tag builds nothing, only tags the
// digests main pushed for the commit with the version, which it outputs
// for promotion; a tag whose commit main never built fails.
func TestBuiltOnceRetaggedByDigest(t *testing.T) {
	job := readWorkflow(t, "release.yml").Jobs["images"]
	build, retag := job.step(t, "Build once per commit (main)"), job.step(t, "Retag the digests main built (tag)")
	if build.If != "github.ref_type != 'tag'" || retag.If != "github.ref_type == 'tag'" {
		t.Fatalf("build runs if %q, retag if %q; want build off tags, retag on them only", build.If, retag.If)
	}
	for _, out := range []string{"model-digest", "frontend-digest"} {
		if want := fmt.Sprintf("${{ steps.build.outputs.%s || steps.retag.outputs.%s }}", out, out); job.Outputs[out] != want {
			t.Errorf("images output %s = %q, want %q", out, job.Outputs[out], want)
		}
	}
	sha := strings.Repeat("5e", 20)
	vals := map[string]string{"OWNER": "Penguin-Lab", "SHA": sha, "SOURCE": "https://github.com/Penguin-Lab/penguins", "REF_NAME": "v1.2.0"}
	images := []string{"model-service", "frontend-service", "model-data"}
	keys := map[string]string{"model-service": "model-digest", "frontend-service": "frontend-digest", "model-data": "data-digest"}

	// main, first run: three builds, three pushes, their digests out.
	bin, calls, registry := fakeRegistry(t, nil)
	outs, log, err := runStep(t, build, bin, vals)
	if err != nil {
		t.Fatalf("build step: %v\n%s", err, log)
	}
	built := map[string]string{}
	for _, name := range images {
		ref := "ghcr.io/penguin-lab/penguins-" + name + ":" + sha
		if outs[keys[name]] != digestOf(ref) || registry()[ref] != digestOf(ref) {
			t.Errorf("main pushed %s as %q and output %q", ref, registry()[ref], outs[keys[name]])
		}
		built[ref] = registry()[ref]
	}
	if n := countPrefix(calls(), "build "); n != 3 {
		t.Errorf("main ran %d builds, want 3:\n%s", n, strings.Join(calls(), "\n"))
	}

	// main, re-run: nothing rebuilt, the same digests out.
	bin, calls, _ = fakeRegistry(t, built)
	outs2, log, err := runStep(t, build, bin, vals)
	if err != nil {
		t.Fatalf("build step, re-run: %v\n%s", err, log)
	}
	if n := countPrefix(calls(), "build ") + countPrefix(calls(), "push "); n != 0 || fmt.Sprint(outs2) != fmt.Sprint(outs) {
		t.Errorf("a re-run built or pushed %d times and output %v, want nothing rebuilt and %v", n, outs2, outs)
	}

	// The tag: main's digests, tagged with the version, nothing built.
	bin, calls, registry = fakeRegistry(t, built)
	tagOuts, log, err := runStep(t, retag, bin, vals)
	if err != nil {
		t.Fatalf("retag step: %v\n%s", err, log)
	}
	if fmt.Sprint(tagOuts) != fmt.Sprint(outs) {
		t.Errorf("the tag promotes %v, main built %v", tagOuts, outs)
	}
	for _, name := range images {
		image := "ghcr.io/penguin-lab/penguins-" + name
		if got, want := registry()[image+":v1.2.0"], built[image+":"+sha]; got != want {
			t.Errorf("%s:v1.2.0 is %q, want main's %q", image, got, want)
		}
	}
	for _, c := range calls() {
		if strings.HasPrefix(c, "build ") || strings.HasPrefix(c, "push ") || strings.HasPrefix(c, "tag ") {
			t.Errorf("the tag run called docker %s", c)
		}
	}

	// A tag on a commit main never built: refused, nothing tagged.
	bin, _, registry = fakeRegistry(t, nil)
	if _, log, err := runStep(t, retag, bin, vals); err == nil || !strings.Contains(log, "main's release of "+sha+" has not pushed it") {
		t.Errorf("retag without main's images: %v\n%s", err, log)
	}
	if len(registry()) != 0 {
		t.Errorf("retag without main's images tagged %v", registry())
	}
}

func countPrefix(lines []string, prefix string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

// TestTagOnMain runs release's check that a tag's commit is on main with
// a fake gh answering GitHub's compare status.
func TestTagOnMain(t *testing.T) {
	s := readWorkflow(t, "release.yml").Jobs["images"].step(t, "A tag's commit is on main")
	if s.If != "github.ref_type == 'tag'" {
		t.Errorf("the check runs if %q", s.If)
	}
	for status, ok := range map[string]bool{"behind": true, "identical": true, "ahead": false, "diverged": false} {
		bin := t.TempDir()
		if err := os.WriteFile(filepath.Join(bin, "gh"), []byte("#!/bin/sh\necho "+status+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		_, log, err := runStep(t, s, bin, map[string]string{"GH_TOKEN": "x", "REPO": "o/r", "SHA": "abc", "REF_NAME": "v1.0.0"})
		if (err == nil) != ok {
			t.Errorf("main...SHA %s: err %v, want passing %v\n%s", status, err, ok, log)
		}
	}
}

// TestPromoteNeedsACluster runs promote's apply step without a KUBECONFIG
// secret: dev renders and says so; staging and prod fail, so that nothing
// passes for deployed (and prod, gated on staging's output, never starts).
// It also checks the names the manifests rely on: the pull Secret and the
// environment tag.
func TestPromoteNeedsACluster(t *testing.T) {
	job := readWorkflow(t, "promote.yml").Jobs["deploy"]
	apply := job.step(t, "Apply and wait for the rollout")
	for env, ok := range map[string]bool{"dev": true, "staging": false, "prod": false} {
		outs, log, err := runStep(t, apply, t.TempDir(), map[string]string{
			"KUBECONFIG_DATA": "", "GHCR_PULL_USER": "o", "GHCR_PULL_TOKEN": "", "ENVIRONMENT": env,
			"MODEL_DIGEST": digestOf("m"), "FRONTEND_DIGEST": digestOf("f"),
		})
		if (err == nil) != ok || len(outs) != 0 {
			t.Errorf("%s without KUBECONFIG: err %v, outputs %v; want passing %v and no digests reported\n%s", env, err, outs, ok, log)
		}
	}
	for _, out := range []string{"model-digest", "frontend-digest"} {
		if job.Outputs[out] != "${{ steps.apply.outputs."+out+" }}" {
			t.Errorf("promote's %s output is %q, want the apply step's", out, job.Outputs[out])
		}
	}
	if !strings.Contains(apply.Run, "create secret generic "+pullSecretName+" --type=kubernetes.io/dockerconfigjson") {
		t.Errorf("promote does not create the pull Secret %s the Deployments name", pullSecretName)
	}
	move := job.step(t, "Move the environment's image tags to the digests")
	if !strings.Contains(move.Run, `--tag "$image:$ENVIRONMENT" "$image@$digest"`) || !strings.Contains(move.Run, `image="ghcr.io/$owner/penguins-${pair%%=*}"`) {
		t.Errorf("promote does not move ghcr.io/OWNER/penguins-SERVICE:ENVIRONMENT, the tag the overlays name (%s...:<env>)", imagePrefix)
	}
	if reviewers := job.step(t, "prod has required reviewers"); reviewers.If != "inputs.environment == 'prod'" || !strings.Contains(reviewers.Run, "required_reviewers") {
		t.Errorf("prod's reviewers are not checked: %+v", reviewers)
	}
}

package deploy

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/modelapi"
)

// boardChampion is the version the released board's champion alias points
// to: what a fresh model store serves.
func boardChampion(t *testing.T) string {
	t.Helper()
	v, err := massmodel.Store{Dir: "models"}.Alias(massmodel.Name, massmodel.Champion)
	if err != nil {
		t.Fatalf("the released board deploy/models: %v", err)
	}
	return v
}

// answer is one prediction the load generator got, or failed to get.
type answer struct {
	sent, got time.Time
	version   string // empty when the request failed
	err       string
}

// predictionLoad posts single-record predictions to the model API from a
// few keep-alive clients until stopped, recording every answer's version
// (the X-Model-Version header, which must match the body's version).
type predictionLoad struct {
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	answers []answer
}

func startPredictionLoad(url string, clients int) *predictionLoad {
	l := &predictionLoad{stop: make(chan struct{})}
	body := `{"bill_length_mm": 45, "species": "Gentoo", "sex": "male"}`
	for range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			client := &http.Client{Timeout: 10 * time.Second}
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				a := answer{sent: time.Now()}
				a.version, a.err = postPredict(client, url+"/predict", body)
				a.got = time.Now()
				l.mu.Lock()
				l.answers = append(l.answers, a)
				l.mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	return l
}

func postPredict(client *http.Client, url, body string) (version, failure string) {
	resp, err := client.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return "", err.Error()
	}
	defer resp.Body.Close()
	var out modelapi.PredictResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return "", fmt.Sprintf("status %d, body: %v", resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Sprintf("status %d", resp.StatusCode)
	}
	if h := resp.Header.Get("X-Model-Version"); h != out.Version || h == "" {
		return "", fmt.Sprintf("X-Model-Version %q, body version %q", h, out.Version)
	}
	return out.Version, ""
}

func (l *predictionLoad) finish() []answer {
	close(l.stop)
	l.wg.Wait()
	return l.answers
}

// switchOver checks a change of the served version to `to`, made at `at`:
// the first answer from `to` came `took` after `at`, and every request sent
// after that first answer, and before `until` (the next change), was
// answered by `to`: the swap is atomic, so a request that starts after any
// answer from the new model gets the new model.
func switchOver(t *testing.T, answers []answer, to string, at, until time.Time) (took time.Duration, ok bool) {
	t.Helper()
	var first time.Time
	for _, a := range answers {
		if a.version == to && !a.sent.Before(at) && (first.IsZero() || a.got.Before(first)) {
			first = a.got
		}
	}
	if first.IsZero() {
		t.Errorf("no answer from %s after the change at %s", to, at.Format(time.StampMilli))
		return 0, false
	}
	ok = true
	for _, a := range answers {
		if a.sent.After(first) && a.sent.Before(until) && a.version != to && a.err == "" {
			t.Errorf("a request sent %s after the first answer from %s was answered by %s", a.sent.Sub(first), to, a.version)
			ok = false
		}
	}
	return first.Sub(at), ok
}

// readmeBlock returns the lines of the first ```sh block after heading in
// the README, without comments.
func readmeBlock(t *testing.T, heading string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README.md has no %q section", heading)
	}
	_, rest, ok = strings.Cut(rest, "```sh\n")
	if !ok {
		t.Fatalf("README.md's %q section has no sh block", heading)
	}
	block, _, _ := strings.Cut(rest, "```")
	var lines []string
	for _, line := range strings.Split(block, "\n") {
		line, _, _ = strings.Cut(line, "  #")
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			lines = append(lines, line)
		}
	}
	return lines
}

var (
	promotedLine   = regexp.MustCompile(`^promoted champion: (\S+) -> (\S+) by`)
	rolledBackLine = regexp.MustCompile(`^rolled back champion: (\S+) -> (\S+) by`)
)

// testPromotionUnderLoad runs the README's "Promotion in compose"
// commands (train into the volume, promote with `compose run --rm
// model-service promote`, roll back) against the running project while a
// load generator posts predictions to the model API: the service switches
// to the new version and back without a restart, and no request fails.
func testPromotionUnderLoad(t *testing.T, c *compose) {
	seeded := boardChampion(t)
	api, err := modelapi.NewClient(modelapi.ClientOptions{BaseURL: c.modelURL})
	if err != nil {
		t.Fatal(err)
	}
	md, err := api.Metadata(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if md.Version != seeded || md.Serving.Pinned {
		t.Fatalf("a fresh store serves %s (pinned %v), want the board's champion %s", md.Version, md.Serving.Pinned, seeded)
	}
	started := c.inspect(t, "model-service", "{{.State.StartedAt}}")

	// The README's commands from the first compose run to the rollback;
	// `up`, `down` and the curl calls to the default ports are the test's
	// own business.
	var script []string
	for _, line := range readmeBlock(t, "### Promotion in compose") {
		if strings.HasPrefix(line, "curl ") || strings.HasPrefix(line, "docker compose up") || strings.HasPrefix(line, "docker compose down") {
			continue
		}
		if c.name == "v1" {
			line = strings.ReplaceAll(line, "docker compose ", "docker-compose ")
		}
		script = append(script, line)
	}
	joined := strings.Join(script, "\n")
	for _, want := range []string{"run --rm -T train", "run --rm model-service promote -store /store -alias champion", "run --rm model-service rollback -store /store -alias champion"} {
		if !strings.Contains(joined, want) {
			t.Fatalf("the README's promotion walkthrough no longer has %q; update this test:\n%s", want, joined)
		}
	}

	load := startPredictionLoad(c.modelURL, 4)
	time.Sleep(time.Second)
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", joined)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), c.env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	begin := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Each line of output as it comes: the promote and rollback commands
	// print theirs once the alias file is in place.
	var promoted, rolledBack time.Time
	var from, to string
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		fmt.Fprintln(&out, line)
		if m := promotedLine.FindStringSubmatch(line); m != nil {
			promoted, from, to = time.Now(), m[1], m[2]
		}
		if m := rolledBackLine.FindStringSubmatch(line); m != nil {
			rolledBack = time.Now()
			if m[1] != to || m[2] != from {
				t.Errorf("rolled back %s -> %s, want %s -> %s", m[1], m[2], to, from)
			}
		}
	}
	err = cmd.Wait()
	scriptTook := time.Since(begin)
	// Let the rollback show, then stop the load.
	time.Sleep(2 * time.Second)
	answers := load.finish()
	t.Logf("the README's commands (%s):\n%s\noutput:\n%s%s", c.name, joined, out.String(), stderr.String())
	if err != nil {
		t.Fatalf("the README's promotion commands failed: %v", err)
	}
	if promoted.IsZero() || rolledBack.IsZero() {
		t.Fatalf("no promotion or no rollback in the output")
	}
	if from != seeded || to == seeded || !massmodel.ValidVersion(to) {
		t.Fatalf("promoted %s -> %s; want the seeded %s to a newly trained version", from, to, seeded)
	}

	failed := 0
	var firstErrs []string
	versions := map[string]int{}
	for _, a := range answers {
		if a.err != "" {
			failed++
			if len(firstErrs) < 5 {
				firstErrs = append(firstErrs, a.err)
			}
			continue
		}
		versions[a.version]++
	}
	toNew, okNew := switchOver(t, answers, to, promoted, rolledBack)
	toOld, okOld := switchOver(t, answers, from, rolledBack, time.Now().Add(time.Hour))
	c.printf("promotion under load (README walkthrough, %.1fs): %d predictions, %d failed; answers by version: %s %d, %s %d",
		scriptTook.Seconds(), len(answers), failed, from, versions[from], to, versions[to])
	c.printf("promote: first answer from %s %.0f ms after promote printed; rollback: first answer from %s %.0f ms after rollback printed",
		to, float64(toNew.Microseconds())/1000, from, float64(toOld.Microseconds())/1000)
	if failed > 0 {
		t.Errorf("%d of %d predictions failed across the promotion and rollback, e.g. %v", failed, len(answers), firstErrs)
	}
	if !okNew || !okOld {
		t.Error("the served version did not switch cleanly")
	}
	for v := range versions {
		if v != from && v != to {
			t.Errorf("%d answers from %s, neither the seeded nor the promoted version", versions[v], v)
		}
	}
	if c.inspect(t, "model-service", "{{.State.StartedAt}}") != started {
		t.Error("model-service was restarted during the promotion")
	}
}

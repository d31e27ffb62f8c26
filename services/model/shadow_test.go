package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/palmerops/penguins/pkg/modelapi"
)

func (p *proc) shadow(t *testing.T) modelapi.Shadow {
	t.Helper()
	resp, err := http.Get(p.url("/monitoring/shadow"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out modelapi.Shadow
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/monitoring/shadow: %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// waitShadow waits until the shadow's report satisfies ok.
func (p *proc) waitShadow(t *testing.T, what string, ok func(modelapi.Shadow) bool) modelapi.Shadow {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := p.shadow(t)
		if ok(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 10s: %+v", what, r)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestShadowFollowsItsAliasUnderLoad runs the binary with a shadow alias
// that does not exist yet, under load: it serves, says why the shadow is
// unavailable, picks the challenger up when it is promoted and follows it
// when it moves, with no error status and no dropped connection.
func TestShadowFollowsItsAliasUnderLoad(t *testing.T) {
	store := t.TempDir()
	v1 := trainInto(t, store)
	v2 := trainInto(t, store)
	p := start(t, "MODEL_STORE="+store, "MODEL_VERSION="+v1, "MODEL_SHADOW_ALIAS=challenger", "MODEL_SHADOW_SAMPLE=0.5", "MODEL_RELOAD_INTERVAL=0")
	p.waitReady(t)
	r := p.waitShadow(t, "unavailable shadow", func(r modelapi.Shadow) bool { return strings.Contains(r.Reason, "unknown alias") })
	if r.Status != modelapi.ShadowUnavailable || r.Champion != v1 || r.SampleRate != 0.5 {
		t.Errorf("before promotion: %+v", r)
	}

	l := startLoad(t, p.url("/predict"), 4)
	mustRun(t, "promote", "-store", store, "-alias", "challenger", v2)
	p.waitShadow(t, "challenger "+v2+" compared", func(r modelapi.Shadow) bool {
		return r.Status == modelapi.ShadowOK && r.Challenger == v2 && r.Records > 0
	})
	mustRun(t, "promote", "-store", store, "-alias", "challenger", v1)
	r = p.waitShadow(t, "challenger "+v1+" compared", func(r modelapi.Shadow) bool { return r.Challenger == v1 && r.Records > 0 })
	l.finish()

	// Both versions are fitted to the same data: they agree.
	if r.MeanDifference == nil || *r.MeanDifference != 0 || r.Champion != v1 {
		t.Errorf("after the move: %+v", r)
	}
	if l.errors.Load() != 0 || l.dropped.Load() != 0 || l.sent.Load() == 0 {
		t.Errorf("load: sent %d, errors %d, dropped %d", l.sent.Load(), l.errors.Load(), l.dropped.Load())
	}
	// Some of the records served were compared, none dropped (the shadow
	// package tests the rate: here the first records were served before
	// there was a challenger).
	r = p.shadow(t)
	served := l.sent.Load()
	if r.DroppedTotal != 0 || r.ScoredTotal == 0 || r.ScoredTotal > uint64(served) {
		t.Errorf("scored %d, dropped %d of %d served", r.ScoredTotal, r.DroppedTotal, served)
	}

	// Stopped, the service has written every log line.
	logs := p.stop(t)
	for _, want := range []string{
		`"msg":"shadow scoring unavailable; the served model is not affected"`,
		`"msg":"model reloaded","service":"model-service","env":"dev","version":"dev","role":"shadow","from":"","to":"` + v2 + `"`,
		`"msg":"shadow scoring stopped"`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, grep(logs, "shadow"))
		}
	}
	if n := strings.Count(logs, `"msg":"shadow model loaded"`); n != 2 {
		t.Errorf("%d shadow loads logged, want 2:\n%s", n, grep(logs, "shadow"))
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

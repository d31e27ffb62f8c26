// Command model-perf measures the model API against the limit of this
// machine: net/http reading the request body and answering a constant JSON.
//
// Every server runs pinned to one core (-server-cpu) and wrk drives it from
// another (-load-cpu). Rounds are interleaved: each round runs every
// target forward (limit, then each model configuration) and then backward,
// half the duration each time, so that a drift in the machine's speed hits
// every target alike. Each figure is the median over the rounds, and each
// ratio the median of the rounds' ratios.
//
//	model-perf -bin bin/model-service                       # what `make perf` runs
//	model-perf -bin bin/model-service -variant 'logs at warn=MODEL_LOG_LEVEL=warn'
//	model-perf -bin bin/model-service -variant 'prod=@deploy/env/prod/model.env,MODEL_STORE=deploy/models'
//	model-perf limit -addr 127.0.0.1:18090                  # the limit server alone
//
// It prints requests per second, p50 and p99 latency for single records
// and 10,000-row batches, the ratio of each configuration to the limit, and
// "default ÷ this": for a variant that turns a feature off (drift off, logs
// at warn), the default's throughput as a share of the throughput without
// the feature, so 0.95 means the feature costs 5%. For a variant that
// turns the prediction log on (MODEL_PREDICTION_LOG), it also prints this ÷
// default, the records the log wrote and dropped, and removes the log's
// finished files as it goes. For a variant that turns shadow scoring on
// (MODEL_SHADOW_ALIAS), it also measures the same configuration without
// it ("shadow off") and prints on ÷ off, with the records the shadow
// compared and dropped; a shadow that compared nothing fails the run.
//
// Last, on a fresh service, the retained-memory check: resident memory
// after one 100,000-row batch and a minute of light traffic (-memory-rows,
// -memory-settle, -memory-rate; -memory-only runs it alone).
//
// With -auth, it also measures "auth on": a keys file with one key
// (predict), per-key rate limiting with a bucket too deep to empty, and
// every request sending the key; it prints auth on ÷ default (auth off).
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/palmerops/penguins/pkg/service"
	"github.com/palmerops/penguins/services/model/internal/auth"
	"github.com/palmerops/penguins/services/model/internal/perfdata"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "limit" {
		os.Exit(limitCmd(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "logsink" {
		os.Exit(logSinkCmd(os.Args[2:]))
	}
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "model-perf:", err)
		os.Exit(1)
	}
}

// limitCmd serves the limit: net/http reading the whole body and answering
// a constant JSON the size of a one-record prediction.
func limitCmd(args []string) int {
	fs := flag.NewFlagSet("limit", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:18090", "listen address")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	body := []byte(`{"predict":[5275.6603],"model":"penguin_model","version":"20260101T000000Z-000000000000"}` + "\n")
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
	// The same http.Server as the model service's (its default timeouts,
	// header limit): the limit differs from the service only in the
	// handler.
	srv := service.NewServer(h, service.Timeouts{ReadHeader: 5 * time.Second, Read: 30 * time.Second, Write: 30 * time.Second, Idle: 120 * time.Second})
	srv.Addr = *addr
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, "model-perf limit:", err)
		return 1
	}
	return 0
}

// variant is one configuration of the model service: a name and the
// environment it adds to the default one.
type variant struct {
	name string
	env  []string
	bin  string // another model-service binary, to compare builds in one run
}

type variants []variant

func (v *variants) String() string { return fmt.Sprint(*v) }

// Set parses "name=VAR=value,@file,bin:PATH,…": variables, and env files
// (KEY=value lines, # comments) read in order, later ones overriding
// earlier ones; bin:PATH runs another model-service binary (an earlier
// build, to measure a change's cost in one run).
func (v *variants) Set(s string) error {
	name, spec, ok := strings.Cut(s, "=")
	if !ok || name == "" || spec == "" {
		return fmt.Errorf("want name=MODEL_VAR=value[,@envfile,…], got %q", s)
	}
	vr := variant{name: name}
	for _, item := range strings.Split(spec, ",") {
		if path, ok := strings.CutPrefix(item, "bin:"); ok {
			if _, err := os.Stat(path); err != nil {
				return fmt.Errorf("variant %q: %w", name, err)
			}
			vr.bin = path
			continue
		}
		kvs := []string{item}
		if path, ok := strings.CutPrefix(item, "@"); ok {
			b, err := os.ReadFile(path)
			if err != nil {
				return fmt.Errorf("variant %q: %w", name, err)
			}
			kvs = nil
			for _, line := range strings.Split(string(b), "\n") {
				if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
					kvs = append(kvs, line)
				}
			}
		}
		for _, kv := range kvs {
			if k, _, ok := strings.Cut(kv, "="); !ok || !strings.HasPrefix(k, "MODEL_") {
				return fmt.Errorf("variant %q: want MODEL_VAR=value, got %q", name, kv)
			}
			vr.env = append(vr.env, kv)
		}
	}
	*v = append(*v, vr)
	return nil
}

type config struct {
	bin               string
	rounds            int
	duration, warmup  time.Duration
	conns, batchConns int
	serverCPU         string
	loadCPU           string
	batchRows         int
	port              int
	out               string
	vars              variants

	// The retained-memory check.
	memoryOnly   bool
	memoryRows   int
	memorySettle time.Duration
	memoryRate   int
	auth         bool

	self string // this binary, for its limit and logsink subcommands
}

func run(args []string) error {
	var c config
	fs := flag.NewFlagSet("model-perf", flag.ContinueOnError)
	fs.StringVar(&c.bin, "bin", "bin/model-service", "the model-service binary")
	fs.IntVar(&c.rounds, "rounds", 5, "interleaved rounds; figures are the median, ratios the median of the rounds' ratios")
	fs.DurationVar(&c.duration, "duration", 4*time.Second, "each target's measurement in a round, in two halves (forward and backward)")
	fs.DurationVar(&c.warmup, "warmup", time.Second, "unmeasured load before the first round")
	fs.IntVar(&c.conns, "conns", 32, "concurrent connections for single records")
	fs.IntVar(&c.batchConns, "batch-conns", 4, "concurrent connections for batches")
	fs.StringVar(&c.serverCPU, "server-cpu", "0", "the CPU every server is pinned to (taskset list)")
	fs.StringVar(&c.loadCPU, "load-cpu", "1", "the CPU the load generator is pinned to")
	fs.IntVar(&c.batchRows, "batch-rows", 10000, "records per batch request")
	fs.IntVar(&c.port, "port", 18090, "first loopback port; servers take consecutive ones")
	fs.StringVar(&c.out, "out", "out/perf", "directory for the servers' logs and the load scripts")
	fs.BoolVar(&c.auth, "auth", false, "also measure auth on: API keys and per-key rate limiting (a limit the load never reaches)")
	fs.Var(&c.vars, "variant", "a model-service configuration to measure besides the default: 'name=MODEL_VAR=value[,MODEL_VAR=value]' (repeatable)")
	fs.BoolVar(&c.memoryOnly, "memory-only", false, "run only the retained-memory check")
	fs.IntVar(&c.memoryRows, "memory-rows", 100_000, "records in the retained-memory check's one large batch")
	fs.DurationVar(&c.memorySettle, "memory-settle", time.Minute, "light traffic after the large batch before the retained memory is read")
	fs.IntVar(&c.memoryRate, "memory-rate", 10, "single-record requests per second of the light traffic")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.memoryRows < 1 || c.memoryRate < 1 || c.memorySettle <= 0 {
		return fmt.Errorf("-memory-rows and -memory-rate want at least 1, -memory-settle a positive duration")
	}
	tools := []string{"wrk", "taskset"}
	if c.memoryOnly {
		tools = tools[1:]
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found: install it (Debian: apt-get install wrk util-linux)", tool)
		}
	}
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	var err error
	if c.self, err = os.Executable(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if c.memoryOnly {
		m, err := retainedMemory(ctx, c, c.port)
		if err != nil {
			return err
		}
		reportMemory(os.Stdout, c, m)
		return nil
	}

	targets := []*target{{name: "limit (net/http, constant JSON)", limit: true}}
	targets = append(targets, &target{name: "model-service default"})
	var authed *target
	if c.auth {
		if authed, err = authTarget(c.out); err != nil {
			return err
		}
	}
	for _, v := range c.vars {
		t := &target{name: "model-service " + v.name, env: v.env, bin: v.bin}
		var noShadow []string
		for _, kv := range v.env {
			if dir, ok := strings.CutPrefix(kv, "MODEL_PREDICTION_LOG="); ok && dir != "" {
				t.predlog = dir
			}
			if alias, ok := strings.CutPrefix(kv, "MODEL_SHADOW_ALIAS="); ok && alias != "" {
				t.shadow = true
			} else if !strings.HasPrefix(kv, "MODEL_SHADOW_") {
				noShadow = append(noShadow, kv)
			}
		}
		if t.shadow {
			// The same configuration without the shadow: what on ÷ off
			// compares it with.
			t.shadowOff = &target{name: "model-service " + shadowOffName(v.name), env: noShadow}
			targets = append(targets, t.shadowOff)
		}
		// A configuration with auth on (staging's, prod's) gets the auth
		// target's keys file and key, and its deep bucket: wrk sends one
		// key far faster than any per-key limit allows.
		for _, t := range []*target{t, t.shadowOff} {
			if t == nil {
				continue
			}
			if i := slices.IndexFunc(t.env, func(kv string) bool { return strings.HasPrefix(kv, "MODEL_API_KEYS_FILE=") }); i >= 0 {
				if authed == nil {
					return fmt.Errorf("variant %q turns auth on (MODEL_API_KEYS_FILE): add -auth, whose key it will use", v.name)
				}
				t.env = append(append(slices.Clone(t.env[:i]), t.env[i+1:]...), authed.env...)
				t.key = authed.key
			}
		}
		targets = append(targets, t)
	}
	if authed != nil {
		targets = append(targets, authed)
	}
	for i, t := range targets {
		t.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port+i))
		var argv []string
		if t.limit {
			argv = []string{c.self, "limit", "-addr", t.addr}
		} else {
			argv = []string{cmp.Or(t.bin, c.bin)}
		}
		if err := t.start(ctx, c, argv); err != nil {
			return err
		}
		defer t.stop()
	}

	var key string
	for _, t := range targets {
		key = cmp.Or(key, t.key)
	}
	single, err := writeScript(c.out, "single", []byte(perfdata.Single), "")
	if err != nil {
		return err
	}
	batch, err := writeScript(c.out, "batch", perfdata.Batch(c.batchRows), "")
	if err != nil {
		return err
	}
	loads := []load{
		{name: "single record", script: single, conns: c.conns, rows: 1},
		{name: fmt.Sprintf("%d-row batch", c.batchRows), script: batch, conns: c.batchConns, rows: c.batchRows},
	}
	if key != "" {
		if loads[0].keyScript, err = writeScript(c.out, "single-auth", []byte(perfdata.Single), key); err != nil {
			return err
		}
		if loads[1].keyScript, err = writeScript(c.out, "batch-auth", perfdata.Batch(c.batchRows), key); err != nil {
			return err
		}
	}

	fmt.Printf("model-perf: servers on CPU %s, wrk on CPU %s, %d interleaved rounds, %s a target each (forward, then backward); %s\n",
		c.serverCPU, c.loadCPU, c.rounds, c.duration, cpuModel())
	for _, l := range loads {
		for _, t := range targets {
			if _, err := wrk(ctx, c, t, l, c.warmup); err != nil {
				return err
			}
			t.prunePredictionLog()
		}
	}
	// Each round runs the targets forward, then backward, for half the
	// duration each time: every target's two halves are centred on the
	// same moment of the round, so a steady drift in the machine's speed
	// (this VM's moves by a tenth within a minute) cancels out of every
	// comparison instead of favouring whichever target runs first.
	res := map[string]map[string][]result{}
	palindrome := append(slices.Clone(targets), targets...)
	slices.Reverse(palindrome[len(targets):])
	for r := 1; r <= c.rounds; r++ {
		for _, l := range loads {
			halves := map[*target][]result{}
			for _, t := range palindrome {
				m, err := wrk(ctx, c, t, l, c.duration/2)
				if err != nil {
					return err
				}
				halves[t] = append(halves[t], m)
				t.prunePredictionLog()
			}
			if res[l.name] == nil {
				res[l.name] = map[string][]result{}
			}
			for _, t := range targets {
				m := mean(halves[t])
				res[l.name][t.name] = append(res[l.name][t.name], m)
				fmt.Fprintf(os.Stderr, "round %d %-16s %-40s %9.0f req/s  p50 %7.3f ms  p99 %7.3f ms\n",
					r, l.name, t.name, m.rps, m.p50.Seconds()*1e3, m.p99.Seconds()*1e3)
			}
		}
	}
	for _, t := range targets {
		if !t.limit {
			if err := t.checkLog(); err != nil {
				return err
			}
		}
	}
	report(os.Stdout, targets, loads, res)
	// Last, on a fresh service of its own, with the others stopped.
	for _, t := range targets {
		t.stop()
		if t.limit {
			os.Remove(t.counts) // its log stays, as the others' do when checkLog fails
		}
	}
	m, err := retainedMemory(ctx, c, c.port+len(targets))
	if err != nil {
		return err
	}
	reportMemory(os.Stdout, c, m)
	return nil
}

// target is one server under measurement.
type target struct {
	name  string
	limit bool
	bin   string // the variant's own binary; "": -bin
	env   []string
	addr  string
	cmd   *exec.Cmd
	log   string
	// sink reads the server's output (logSinkCmd) and writes counts at
	// the end.
	sink   *exec.Cmd
	counts string
	// logged summarises the log after the run.
	logged string
	// predlog is the variant's MODEL_PREDICTION_LOG directory, if any.
	predlog string
	// shadow is true when the variant sets MODEL_SHADOW_ALIAS; shadowOff
	// is then the same configuration without it.
	shadow    bool
	shadowOff *target
	// key is the API key every request sends; "" for none.
	key string
	// auth is the -auth target, the default configuration with auth on.
	auth bool
}

// authTarget is the service with auth on: a keys file in dir with one key
// (predict), and a rate limit the load cannot reach, so the bucket is
// consulted on every request but never refuses.
func authTarget(dir string) (*target, error) {
	file, err := filepath.Abs(filepath.Join(dir, "api-keys"))
	if err != nil {
		return nil, err
	}
	os.Remove(file) // a fresh key each run
	key, err := auth.Add(file, "perf", []auth.Scope{auth.Predict}, "", time.Now())
	if err != nil {
		return nil, err
	}
	return &target{name: "model-service auth on", key: key, auth: true, env: []string{
		"MODEL_API_KEYS_FILE=" + file, "MODEL_RATE_LIMIT=1000000", "MODEL_RATE_BURST=1000000",
	}}, nil
}

// shadowOffName names the configuration of variant without its shadow:
// "shadow on (default sample)" becomes "shadow off".
func shadowOffName(variant string) string {
	if strings.HasPrefix(variant, "shadow on") {
		return "shadow off"
	}
	return variant + ", shadow off"
}

func (t *target) start(ctx context.Context, c config, argv []string) error {
	slug := strings.Trim(regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(t.name), "-"), "-")
	t.log = filepath.Join(c.out, slug+".log")
	// The server's output goes into a pipe, as a container's does under
	// Docker or Kubernetes, and a log sink on the load generator's CPU
	// reads it: it counts the prediction records as they arrive and keeps
	// every line but the per-request ones in t.log. Written to a file, a
	// full run's logs come to gigabytes a configuration, and the kernel's
	// writeback of them, on both CPUs, slowed the rounds that followed the
	// batches (the default read 0.64 of the limit with them, 0.73 without
	// batches, on 2026-12-02).
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	defer w.Close()
	t.counts = t.log + ".counts"
	t.sink = exec.Command("taskset", "-c", c.loadCPU, c.self, "logsink", "-log", t.log, "-counts", t.counts)
	t.sink.Stdin, t.sink.Stderr = r, os.Stderr
	if err := t.sink.Start(); err != nil {
		return fmt.Errorf("starting the log sink of %s: %w", t.name, err)
	}
	t.cmd = exec.CommandContext(ctx, "taskset", append([]string{"-c", c.serverCPU}, argv...)...)
	// Only the variables the service is meant to see: a MODEL_ variable
	// from the caller's shell would change what is measured.
	t.cmd.Env = append(append([]string{"PATH=" + os.Getenv("PATH")}, t.env...), "MODEL_ADDR="+t.addr)
	t.cmd.Stdout, t.cmd.Stderr = w, w
	if err := t.cmd.Start(); err != nil {
		w.Close()
		t.sink.Wait()
		return fmt.Errorf("starting %s: %w", t.name, err)
	}
	path := "/"
	if !t.limit {
		path = "/readyz"
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + t.addr + path)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not become ready on %s within 15s (log: %s)", t.name, t.addr, t.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the server with SIGTERM, so a model service drains and flushes
// its logs before checkLog reads them.
func (t *target) stop() {
	if t.cmd == nil || t.cmd.Process == nil || t.cmd.ProcessState != nil {
		return
	}
	t.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { t.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.cmd.Process.Kill()
		<-done
	}
	// The server's end of the pipe is closed: the sink reads what is left,
	// writes its counts and exits.
	t.sink.Wait()
}

// checkLog reads the predictions served from /metrics, stops the service
// (SIGTERM: it drains and flushes its log) and counts the prediction
// records in its log. When the configuration logs predictions, every one
// must be there: a configuration that dropped log lines would measure as
// fast for the wrong reason.
func (t *target) checkLog() error {
	served, err := predictionsServed(t.addr)
	if err != nil {
		return err
	}
	var plog string
	if t.predlog != "" {
		written, err := metricSum(t.addr, "model_prediction_log_records_total")
		if err != nil {
			return err
		}
		dropped, err := metricSum(t.addr, "model_prediction_log_dropped_total")
		if err != nil {
			return err
		}
		plog = fmt.Sprintf("; prediction log: %.0f records written, %.0f dropped", written, dropped)
	}
	if t.shadow {
		available, err := metricSum(t.addr, "model_shadow_available")
		if err != nil {
			return err
		}
		scored, err := metricSum(t.addr, "model_shadow_records_scored_total")
		if err != nil {
			return err
		}
		dropped, err := metricSum(t.addr, "model_shadow_records_dropped_total")
		if err != nil {
			return err
		}
		// A shadow with no challenger samples nothing: it would measure
		// as fast for the wrong reason.
		if available != 1 || scored == 0 {
			return fmt.Errorf("%s: the shadow compared %.0f records (available %.0f); is the alias in its store? (log: %s)", t.name, scored, available, t.log)
		}
		plog += fmt.Sprintf("; shadow: %.0f records compared (%.3f of %d predictions), %.0f dropped", scored, scored/float64(served), served, dropped)
	}
	t.stop()
	if t.predlog != "" {
		t.prunePredictionLog()
	}
	b, err := os.ReadFile(t.counts)
	if err != nil {
		return fmt.Errorf("%s: its log sink left no counts: %w", t.name, err)
	}
	var lines, records int
	if _, err := fmt.Sscan(string(b), &lines, &records); err != nil {
		return fmt.Errorf("%s: log sink counts %q: %w", t.name, b, err)
	}
	if records > 0 && records != served {
		return fmt.Errorf("%s served %d predictions but its log holds %d records (%s)", t.name, served, records, t.log)
	}
	t.logged = fmt.Sprintf("%d lines; %d of %d predictions recorded%s", lines, records, served, plog)
	os.Remove(t.counts)
	return os.Remove(t.log)
}

// logSinkCmd reads a server's output on stdin until it ends, counting its
// lines and the prediction records in them; it keeps in -log every line
// but the per-request info lines (the access line and the prediction
// events), so start-up, warnings and errors are there to read, and writes
// "lines records" to -counts at the end.
func logSinkCmd(args []string) int {
	fs := flag.NewFlagSet("logsink", flag.ContinueOnError)
	logPath := fs.String("log", "", "file for the lines kept")
	countsPath := fs.String("counts", "", "file for the counts, written at the end")
	if err := fs.Parse(args); err != nil || *logPath == "" || *countsPath == "" {
		fmt.Fprintln(os.Stderr, "usage: model-perf logsink -log FILE -counts FILE < output")
		return 2
	}
	f, err := os.Create(*logPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "model-perf logsink:", err)
		return 1
	}
	kept := bufio.NewWriter(f)
	lines, records, err := sink(os.Stdin, kept)
	err = cmp.Or(err, kept.Flush(), f.Close(), os.WriteFile(*countsPath, fmt.Appendf(nil, "%d %d\n", lines, records), 0o644))
	if err != nil {
		fmt.Fprintln(os.Stderr, "model-perf logsink:", err)
		return 1
	}
	return 0
}

// sink reads output to its end and counts its lines and prediction
// records, writing the lines that are not per-request ones to kept.
func sink(output io.Reader, kept *bufio.Writer) (lines, records int, err error) {
	sc := bufio.NewScanner(output)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		lines++
		n := countRecords(line)
		records += n
		if n == 0 && !perRequest(line) {
			kept.Write(line)
			kept.WriteByte('\n')
		}
	}
	if err := sc.Err(); err != nil {
		// Drain the rest, so the server never blocks on a full pipe.
		io.Copy(io.Discard, output)
		return lines, records, err
	}
	return lines, records, nil
}

// perRequest reports whether line is one of the info lines every request
// writes.
func perRequest(line []byte) bool {
	if !bytes.HasPrefix(line, []byte(`{"level":"info"`)) {
		return false
	}
	for _, msg := range [...]string{`"msg":"request"`, `"msg":"prediction requested"`, `"msg":"prediction returned"`} {
		if bytes.Contains(line, []byte(msg)) {
			return true
		}
	}
	return false
}

// countRecords counts the elements of the body_mass_g output column of a
// "prediction returned" line without decoding the line.
func countRecords(line []byte) int {
	if !bytes.Contains(line, []byte(`"msg":"prediction returned"`)) {
		return 0
	}
	_, col, ok := bytes.Cut(line, []byte(`"body_mass_g":[`))
	if !ok {
		return 0
	}
	col, _, _ = bytes.Cut(col, []byte("]"))
	if len(bytes.TrimSpace(col)) == 0 {
		return 0
	}
	return bytes.Count(col, []byte(",")) + 1
}

// prunePredictionLog removes the finished files of the target's
// prediction log: a batch run writes gigabytes, and a finished file is
// never touched again. The partial file being written stays.
func (t *target) prunePredictionLog() {
	if t.predlog == "" {
		return
	}
	names, _ := filepath.Glob(filepath.Join(t.predlog, "predictions-*.jsonl"))
	for _, n := range names {
		os.Remove(n)
	}
}

// predictionsServed sums model_predictions_total over its endpoints.
func predictionsServed(addr string) (int, error) {
	total, err := metricSum(addr, "model_predictions_total")
	return int(total), err
}

// metricSum sums the named metric's series in addr's /metrics.
func metricSum(addr, name string) (float64, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	total := 0.0
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			return 0, fmt.Errorf("parsing %q: %w", line, err)
		}
		total += v
	}
	return total, nil
}

type load struct {
	name      string
	script    string
	keyScript string // script sending the API key, for the auth target
	conns     int
	rows      int
}

type result struct {
	rps      float64
	p50, p99 time.Duration
}

// writeScript writes the body and a wrk Lua script that POSTs it.
// writeScript writes a wrk script that POSTs body, sending key as a bearer
// token unless it is "".
func writeScript(dir, name string, body []byte, key string) (string, error) {
	bodyPath, err := filepath.Abs(filepath.Join(dir, name+".json"))
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(bodyPath, body, 0o644); err != nil {
		return "", err
	}
	script := filepath.Join(dir, name+".lua")
	lua := fmt.Sprintf(`local f = assert(io.open(%q, "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
`, bodyPath)
	if key != "" {
		lua += fmt.Sprintf("wrk.headers[\"Authorization\"] = %q\n", "Bearer "+key)
	}
	return script, os.WriteFile(script, []byte(lua), 0o644)
}

var (
	reRPS     = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	reLatency = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
	reErrors  = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)|Socket errors: .*`)
)

// wrk runs one measurement of l against t and parses wrk's report. A
// non-2xx answer or a socket error fails the run: an error is not a
// result.
func wrk(ctx context.Context, c config, t *target, l load, d time.Duration) (result, error) {
	script := l.script
	if t.key != "" {
		script = l.keyScript
	}
	args := []string{"-c", c.loadCPU, "wrk", "-t1", "-c" + strconv.Itoa(l.conns), "-d" + strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s",
		"--latency", "-s", script, "http://" + t.addr + "/predict"}
	out, err := exec.CommandContext(ctx, "taskset", args...).CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("wrk against %s: %w\n%s", t.name, err, out)
	}
	if m := reErrors.Find(out); m != nil {
		return result{}, fmt.Errorf("wrk against %s (%s): %s\n%s", t.name, l.name, m, out)
	}
	var r result
	m := reRPS.FindSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no Requests/sec in wrk's output:\n%s", out)
	}
	r.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	for _, m := range reLatency.FindAllSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(string(m[2]), 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[string(m[3])]
		lat := time.Duration(v * float64(unit))
		if string(m[1]) == "50" {
			r.p50 = lat
		} else {
			r.p99 = lat
		}
	}
	if r.p50 == 0 || r.p99 == 0 {
		return r, fmt.Errorf("no latency distribution in wrk's output:\n%s", out)
	}
	return r, nil
}

// mean combines the halves of one round's measurement of a target.
func mean(rs []result) result {
	var m result
	for _, r := range rs {
		m.rps += r.rps / float64(len(rs))
		m.p50 += r.p50 / time.Duration(len(rs))
		m.p99 += r.p99 / time.Duration(len(rs))
	}
	return m
}

func medianOf(xs []float64) float64 {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	if n := len(xs); n%2 == 0 {
		return (xs[n/2-1] + xs[n/2]) / 2
	}
	return xs[len(xs)/2]
}

func median(rs []result) result {
	pick := func(f func(result) float64) float64 {
		xs := make([]float64, len(rs))
		for i, r := range rs {
			xs[i] = f(r)
		}
		return medianOf(xs)
	}
	return result{
		rps: pick(func(r result) float64 { return r.rps }),
		p50: time.Duration(pick(func(r result) float64 { return float64(r.p50) })),
		p99: time.Duration(pick(func(r result) float64 { return float64(r.p99) })),
	}
}

// paired is a comparison of two targets measured in the same rounds: the
// ratio in each round, so that the machine's speed in that round divides
// out.
type paired []float64

func pair(a, b []result, f func(result) float64) paired {
	p := make(paired, len(a))
	for i := range a {
		p[i] = f(a[i]) / f(b[i])
	}
	return p
}

func rps(r result) float64 { return r.rps }
func p99(r result) float64 { return float64(r.p99) }

// median is the comparison's figure: the median of its rounds' ratios.
func (p paired) median() float64 { return medianOf(p) }

// String is the median with the rounds' range: "0.95 (0.93–0.97)".
func (p paired) String() string {
	return fmt.Sprintf("%.2f (%.2f–%.2f)", p.median(), slices.Min(p), slices.Max(p))
}

func report(w io.Writer, targets []*target, loads []load, res map[string]map[string][]result) {
	ms := func(d time.Duration) string { return strconv.FormatFloat(d.Seconds()*1e3, 'f', 3, 64) }
	for _, l := range loads {
		fmt.Fprintf(w, "\n== %s, %d connections (medians of %d rounds; ratios are the median of the rounds' ratios) ==\n", l.name, l.conns, len(res[l.name][targets[0].name]))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "target\treq/s\trows/s\tp50 ms\tp99 ms\treq/s vs limit\tp99 vs limit\tdefault ÷ this\t")
		limit := res[l.name][targets[0].name]
		def := res[l.name][targets[1].name]
		for i, t := range targets {
			rs := res[l.name][t.name]
			m := median(rs)
			vsDefault := ""
			if i > 1 {
				vsDefault = strconv.FormatFloat(pair(def, rs, rps).median(), 'f', 2, 64)
			}
			fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%s\t%s\t%.2f\t%.2f\t%s\t\n", t.name, m.rps, m.rps*float64(l.rows),
				ms(m.p50), ms(m.p99), pair(rs, limit, rps).median(), pair(rs, limit, p99).median(), vsDefault)
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
	for _, t := range targets[1:] {
		fmt.Fprintf(w, "%s logged %s\n", t.name, t.logged)
	}
	one, big := loads[0].name, loads[1].name
	lim, def := res[one][targets[0].name], res[one][targets[1].name]
	batch := median(res[big][targets[1].name])
	vsLimit, p99VsLimit := pair(def, lim, rps), pair(def, lim, p99)
	fmt.Fprintf(w, "\nsingle record, default configuration: %s of the limit's req/s (target >= 0.80: %s), p99 %sx the limit's (target <= 2: %s)\n",
		vsLimit, verdict(vsLimit.median() >= 0.80), p99VsLimit, verdict(p99VsLimit.median() <= 2))
	fmt.Fprintf(w, "%s, default configuration: %.0f rows/s (target >= 1,500,000: %s)\n",
		big, batch.rps*float64(loads[1].rows), verdict(batch.rps*float64(loads[1].rows) >= 1.5e6))
	for _, t := range targets[2:] {
		v := res[one][t.name]
		fmt.Fprintf(w, "single record, %s: %s of the limit's req/s, p99 %sx the limit's; default ÷ this %s\n",
			strings.TrimPrefix(t.name, "model-service "), pair(v, lim, rps), pair(v, lim, p99), pair(def, v, rps))
		if t.shadowOff != nil {
			onOff := pair(v, res[one][t.shadowOff.name], rps)
			fmt.Fprintf(w, "single record, %s ÷ %s: %s (target >= 0.95: %s)\n",
				strings.TrimPrefix(t.name, "model-service "), strings.TrimPrefix(t.shadowOff.name, "model-service "), onOff, verdict(onOff.median() >= 0.95))
		}
		if t.auth {
			onOff := pair(v, def, rps)
			fmt.Fprintf(w, "single record, auth on ÷ default (auth off): %s (target >= 0.95: %s)\n", onOff, verdict(onOff.median() >= 0.95))
		}
		if t.predlog != "" {
			// A feature turned on: its throughput as a share of the default's.
			onOff := pair(v, def, rps)
			fmt.Fprintf(w, "single record, %s ÷ default (log off): %s (target >= 0.90: %s)\n",
				strings.TrimPrefix(t.name, "model-service "), onOff, verdict(onOff.median() >= 0.90))
		}
		if t.bin != "" {
			// Another build: the default's throughput as a share of its.
			fmt.Fprintf(w, "%s, default ÷ %s: %s\n", big, strings.TrimPrefix(t.name, "model-service "), pair(res[big][targets[1].name], res[big][t.name], rps))
		}
	}
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// Command model-traffic sends the model API predictions that look like the
// training data, or like a named shift of it, at a steady rate for a bounded
// time, and prints what came back. It sends only to this machine.
//
//	model-traffic                                      # training-like, 20 req/s for 30 s, to http://127.0.0.1:8080
//	model-traffic -shift gentoo-long-bills -duration 1m
//	model-traffic -rate 100 -batch 10 -duration 5s     # 1,000 records a second
//	model-traffic -list                                # the named shifts
//
// Records are drawn from the complete cases of the embedded penguins data
// (the rows the default model is trained on) and POSTed as JSON arrays of
// -batch records to <url>/predict. It exits 0 when every request got a 2xx
// answer and 1 otherwise, after printing the summary either way.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "model-traffic:", err)
		os.Exit(1)
	}
}

// errUsage is a flag error, already reported by the flag package.
var errUsage = errors.New("usage")

// options are the command line, checked.
type options struct {
	target      *url.URL // the model API's /predict
	shift       shift
	rate        float64 // requests per second
	duration    time.Duration
	batch       int // records per request
	concurrency int // requests in flight at most
	timeout     time.Duration
	seed        uint64
}

// Bounds on the flags: the generator is for demos and tests on this
// machine, not for load tests.
const (
	maxRate        = 1000
	maxDuration    = time.Hour
	maxBatch       = 1000
	maxConcurrency = 64
)

func run(ctx context.Context, args []string, out io.Writer) error {
	opts, list, err := parseFlags(args)
	if err != nil {
		return err
	}
	if list {
		for _, s := range shifts {
			fmt.Fprintf(out, "%-18s %s\n", s.name, s.about)
		}
		return nil
	}
	s, err := newSampler()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "model-traffic: %s, %g req/s × %d record(s) for %s to %s\n",
		opts.shift.name, opts.rate, opts.batch, opts.duration, opts.target)
	sum, err := send(ctx, opts, s)
	if err != nil {
		return err
	}
	sum.print(out)
	if failed := sum.failed(); failed > 0 {
		return fmt.Errorf("%d of %d requests failed", failed, sum.requests)
	}
	return nil
}

func parseFlags(args []string) (options, bool, error) {
	fs := flag.NewFlagSet("model-traffic", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	target := fs.String("url", "http://127.0.0.1:8080", "the model API's base URL, on this machine (loopback or localhost)")
	shiftName := fs.String("shift", "none", "records like the training data (none) or a named shift; -list names them")
	rate := fs.Float64("rate", 20, fmt.Sprintf("requests per second (at most %d)", maxRate))
	duration := fs.Duration("duration", 30*time.Second, fmt.Sprintf("how long to send (at most %s)", maxDuration))
	batch := fs.Int("batch", 1, fmt.Sprintf("records per request (at most %d)", maxBatch))
	concurrency := fs.Int("concurrency", 8, fmt.Sprintf("requests in flight at most (at most %d); a tick that finds them all busy is skipped", maxConcurrency))
	timeout := fs.Duration("timeout", 5*time.Second, "per request")
	seed := fs.Uint64("seed", 1, "random seed: the same seed sends the same records")
	list := fs.Bool("list", false, "list the named shifts and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return options{}, false, err
		}
		return options{}, false, errUsage
	}
	if fs.NArg() > 0 {
		return options{}, false, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *list {
		return options{}, true, nil
	}

	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	u, err := localTarget(*target)
	if err != nil {
		errs = append(errs, err)
	}
	sh, ok := shiftNamed(*shiftName)
	if !ok {
		bad("-shift %q: not a named shift; -list names them", *shiftName)
	}
	if !(*rate > 0 && *rate <= maxRate) {
		bad("-rate %g: want more than 0 and at most %d requests per second", *rate, maxRate)
	}
	if *duration <= 0 || *duration > maxDuration {
		bad("-duration %s: want more than 0 and at most %s", *duration, maxDuration)
	}
	if *batch < 1 || *batch > maxBatch {
		bad("-batch %d: want 1 to %d records", *batch, maxBatch)
	}
	if *concurrency < 1 || *concurrency > maxConcurrency {
		bad("-concurrency %d: want 1 to %d", *concurrency, maxConcurrency)
	}
	if *timeout <= 0 {
		bad("-timeout %s: want more than 0", *timeout)
	}
	if err := errors.Join(errs...); err != nil {
		return options{}, false, err
	}
	return options{
		target: u, shift: sh, rate: *rate, duration: *duration, batch: *batch,
		concurrency: *concurrency, timeout: *timeout, seed: *seed,
	}, false, nil
}

// localTarget parses the model API's base URL and returns its /predict. It
// refuses any host but this machine's loopback: the generator is no load
// tool for other people's servers.
func localTarget(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("-url %q: want the model API's base URL, such as http://127.0.0.1:8080", raw)
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("-url %q: refusing host %q: model-traffic sends only to this machine (127.0.0.0/8, [::1] or localhost)", raw, host)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("-url %q: want a base URL with no query or fragment", raw)
	}
	return u.JoinPath("predict"), nil
}

package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/palmerops/penguins/pkg/massmodel"
)

const evaluateUsage = `usage: model-service evaluate -store D -data FILE.csv -date-column COL -period P [-version V] [-overwrite]

Scores a version of the model on labelled rows (the truth in body_mass_g) by
period, and pins n, rmse, mae, rsq and bias of each period into the store
next to the version. Periods that overlap ones already pinned are refused
unless -overwrite is given. (-alias is not available yet: name a version.)

`

func evaluateCmd(args []string) int {
	return evaluateMain(args, os.Stdout, os.Stderr)
}

func evaluateMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("evaluate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, evaluateUsage)
		fs.PrintDefaults()
	}
	store := fs.String("store", os.Getenv("MODEL_STORE"), "model store directory (default $MODEL_STORE)")
	data := fs.String("data", "", "labelled rows, CSV with a header, NA for a missing value")
	dateCol := fs.String("date-column", "", "column of each row's date: RFC 3339 date or date-time, or an integer year")
	period := fs.String("period", "", "period to score by: "+strings.Join(massmodel.Periods, ", "))
	version := fs.String("version", "", "version to score (default the newest in the store)")
	overwrite := fs.Bool("overwrite", false, "replace pinned periods that overlap the new ones")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"-store", *store}, {"-data", *data}, {"-date-column", *dateCol}, {"-period", *period}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 || fs.NArg() > 0 {
		fmt.Fprintf(stderr, "model-service evaluate: %s required\n", strings.Join(missing, ", "))
		if fs.NArg() > 0 {
			fmt.Fprintf(stderr, "model-service evaluate: unexpected arguments %q\n", fs.Args())
		}
		fs.Usage()
		return 2
	}
	if err := evaluate(stdout, *store, *data, *dateCol, *period, *version, *overwrite); err != nil {
		fmt.Fprintln(stderr, "model-service evaluate:", err)
		return 1
	}
	return 0
}

// evaluate scores the version on the labelled rows and pins the metrics.
// Nothing is pinned unless every row reads.
func evaluate(w io.Writer, store, data, dateCol, period, version string, overwrite bool) error {
	if version != "" && !massmodel.ValidVersion(version) {
		return fmt.Errorf("-version %q is not a version id such as 20260101T120000Z-0123456789ab", version)
	}
	s := massmodel.Store{Dir: store}
	a, m, err := s.Load(massmodel.Name, version)
	if err != nil {
		return err
	}
	f, err := os.Open(data)
	if err != nil {
		return err
	}
	defer f.Close()
	ev, err := massmodel.Evaluate(f, a, m, massmodel.EvaluateOptions{DateColumn: dateCol, Period: period})
	if err != nil {
		return fmt.Errorf("%s: %w", data, err)
	}
	all, err := s.PinMetrics(a.Name, a.Version, ev.Metrics, overwrite, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "scored %d of %d rows of %s with %s version %s", ev.Scored, ev.Rows, data, a.Name, a.Version)
	if len(ev.Dropped) > 0 {
		fmt.Fprintf(w, "; left out: %s", dropped(ev.Dropped))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "period_start\tperiod\tn\tmetric\testimate\t")
	for _, pm := range ev.Metrics {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%.4f\t\n", pm.PeriodStart, pm.Period, pm.N, pm.Metric, pm.Estimate)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "pinned %d metrics to %s/%s/%s/%s (%d in all)\n", len(ev.Metrics), store, a.Name, a.Version, massmodel.MetricsFile, len(all))
	return err
}

func dropped(d map[string]int) string {
	var parts []string
	for reason, n := range d {
		parts = append(parts, fmt.Sprintf("%d %s", n, reason))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

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
	"github.com/palmerops/penguins/services/model/internal/predlog"
)

const evaluateUsage = `usage: model-service evaluate -store D -data FILE.csv -date-column COL -period P [-version V] [-predictions DIR] [-overwrite]

Scores a version of the model on labelled rows (the truth in body_mass_g) by
period, and pins n, rmse, mae, rsq and bias of each period into the store
next to the version. Periods that overlap ones already pinned are refused
unless -overwrite is given. (-alias is not available yet: name a version.)

With -predictions, the predictions that were actually served are scored:
each labelled row names its request in a request_id column (and its record
in a batch in an optional row column), joined to the prediction log in DIR
(MODEL_PREDICTION_LOG); rows with no served prediction, or served by another
version, are left out and counted.

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
	predictions := fs.String("predictions", "", "prediction log directory: score the predictions served to the rows' request_id, not new ones")
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
	if err := evaluate(stdout, *store, *data, *dateCol, *period, *version, *predictions, *overwrite); err != nil {
		fmt.Fprintln(stderr, "model-service evaluate:", err)
		return 1
	}
	return 0
}

// evaluate scores the version on the labelled rows and pins the metrics.
// Nothing is pinned unless every row reads.
func evaluate(w io.Writer, store, data, dateCol, period, version, predictions string, overwrite bool) error {
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
	opt := massmodel.EvaluateOptions{DateColumn: dateCol, Period: period}
	if predictions != "" {
		served, st, err := readServed(predictions)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "read %d served records from %d prediction log file(s) in %s", st.Records, st.Files, predictions)
		if st.Corrupt > 0 {
			fmt.Fprintf(w, "; skipped %d corrupt line(s)", st.Corrupt)
		}
		fmt.Fprintln(w)
		opt.Served = func(id string, row int) (float64, string, bool) {
			r, ok := served[servedKey{id, row}]
			return r.Prediction, r.ModelVersion, ok
		}
	}
	ev, err := massmodel.Evaluate(f, a, m, opt)
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

type servedKey struct {
	id  string
	row int
}

// readServed reads the prediction log in dir by request id and row. A
// corrupt line is skipped and counted, never fatal.
func readServed(dir string) (map[servedKey]predlog.Record, predlog.ReadStats, error) {
	served := map[servedKey]predlog.Record{}
	st, err := predlog.ReadDir(dir, func(r predlog.Record) error {
		served[servedKey{r.RequestID, r.Row}] = r
		return nil
	})
	if err != nil {
		return nil, st, fmt.Errorf("reading the prediction log: %w", err)
	}
	if st.Files == 0 {
		return nil, st, fmt.Errorf("-predictions %s: no prediction log files there", dir)
	}
	return served, st, nil
}

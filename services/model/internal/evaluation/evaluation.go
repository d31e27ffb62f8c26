// Package evaluation is the evaluate command of both model-service (labelled
// rows from a CSV file) and model-data (from the PostgreSQL table): score a
// version of the store on labelled rows by period, print the metrics and pin
// them next to the version.
package evaluation

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/services/model/internal/predlog"
)

// Options say what to score and where to pin it.
type Options struct {
	Store          string
	Version, Alias string // at most one; neither: the newest version
	// Data is the labelled rows as CSV; DataName names them in messages.
	Data       io.Reader
	DataName   string
	DateColumn string
	Period     string
	// Predictions, when set, is a prediction log directory: the
	// predictions served to the rows' request_id are scored, not new ones.
	Predictions string
	Overwrite   bool
}

// Run scores and pins, reporting to w. Nothing is pinned unless every row
// reads.
func Run(w io.Writer, o Options) error {
	s := massmodel.Store{Dir: o.Store}
	version := o.Version
	switch {
	case o.Version != "" && o.Alias != "":
		return fmt.Errorf("-version and -alias both given; name one")
	case o.Version != "" && !massmodel.ValidVersion(o.Version):
		return fmt.Errorf("-version %q is not a version id such as 20260101T120000Z-0123456789ab", o.Version)
	case o.Alias != "":
		v, err := s.Alias(massmodel.Name, o.Alias)
		if err != nil {
			return err
		}
		version = v
	}
	a, m, err := s.Load(massmodel.Name, version)
	if err != nil {
		return err
	}
	opt := massmodel.EvaluateOptions{DateColumn: o.DateColumn, Period: o.Period}
	if o.Predictions != "" {
		served, st, err := readServed(o.Predictions)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "read %d served records from %d prediction log file(s) in %s", st.Records, st.Files, o.Predictions)
		if st.Corrupt > 0 {
			fmt.Fprintf(w, "; skipped %d corrupt line(s)", st.Corrupt)
		}
		fmt.Fprintln(w)
		opt.Served = func(id string, row int) (float64, string, bool) {
			r, ok := served[servedKey{id, row}]
			return r.Prediction, r.ModelVersion, ok
		}
	}
	ev, err := massmodel.Evaluate(o.Data, a, m, opt)
	if err != nil {
		return fmt.Errorf("%s: %w", o.DataName, err)
	}
	all, err := s.PinMetrics(a.Name, a.Version, ev.Metrics, o.Overwrite, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "scored %d of %d rows of %s with %s version %s", ev.Scored, ev.Rows, o.DataName, a.Name, a.Version)
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
	_, err = fmt.Fprintf(w, "pinned %d metrics to %s/%s/%s/%s (%d in all)\n", len(ev.Metrics), o.Store, a.Name, a.Version, massmodel.MetricsFile, len(all))
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

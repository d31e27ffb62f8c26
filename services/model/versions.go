package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/palmerops/penguins/pkg/massmodel"
)

const versionsUsage = `usage: model-service versions -store D

Lists each version of the model in store D, oldest first: its training data
hash, fit metrics (R², RMSE), the RMSE pinned by evaluate for each period,
and the aliases pointing to it. A version that fails verification is listed
as such.

`

func versionsCmd(args []string) int { return versionsMain(args, os.Stdout, os.Stderr) }

func versionsMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("versions", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, versionsUsage)
		fs.PrintDefaults()
	}
	store := fs.String("store", os.Getenv("MODEL_STORE"), "model store directory (default $MODEL_STORE)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *store == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "model-service versions: -store is required and takes no arguments")
		fs.Usage()
		return 2
	}
	if err := versions(stdout, massmodel.Store{Dir: *store}); err != nil {
		fmt.Fprintln(stderr, "model-service versions:", err)
		return 1
	}
	return 0
}

func versions(w io.Writer, s massmodel.Store) error {
	if st, err := os.Stat(s.Dir); err != nil {
		return fmt.Errorf("model store: %w", err)
	} else if !st.IsDir() {
		return fmt.Errorf("model store: %s is not a directory", s.Dir)
	}
	vs, err := s.Versions(massmodel.Name)
	if err != nil {
		return err
	}
	if len(vs) == 0 {
		return fmt.Errorf("%w: %s", massmodel.ErrNoVersions, s.Dir)
	}
	aliases, err := s.Aliases(massmodel.Name)
	if err != nil {
		return err
	}
	byVersion := map[string][]string{}
	for a, v := range aliases {
		byVersion[v] = append(byVersion[v], a)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tDATA SHA256\tR²\tRMSE\tPINNED RMSE\tALIASES")
	for _, v := range vs {
		names := byVersion[v]
		slices.Sort(names)
		al := strings.Join(names, ",")
		if al == "" {
			al = "-"
		}
		a, _, err := s.Load(massmodel.Name, v)
		if err != nil {
			fmt.Fprintf(tw, "%s\tFAILS VERIFICATION: %v\t\t\t\t%s\n", v, err, al)
			continue
		}
		pinned := "-"
		ms, err := s.Metrics(massmodel.Name, v)
		if err != nil {
			pinned = "unreadable: " + err.Error()
		} else if p := pinnedRMSE(ms); p != "" {
			pinned = p
		}
		fmt.Fprintf(tw, "%s\t%.12s\t%.4f\t%.2f\t%s\t%s\n", v, a.Data.SHA256, a.Metrics.R2, a.Metrics.RMSE, pinned, al)
	}
	return tw.Flush()
}

// pinnedRMSE lists a version's pinned RMSE by period: "year 2007-01-01 312.40, …".
func pinnedRMSE(ms []massmodel.PeriodMetric) string {
	var parts []string
	for _, m := range ms {
		if m.Metric == "rmse" {
			parts = append(parts, fmt.Sprintf("%s %s %.2f", m.Period, m.PeriodStart, m.Estimate))
		}
	}
	return strings.Join(parts, ", ")
}

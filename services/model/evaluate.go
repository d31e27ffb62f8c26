package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/services/model/internal/evaluation"
)

const evaluateUsage = `usage: model-service evaluate -store D -data FILE.csv -date-column COL -period P [-version V | -alias A] [-predictions DIR] [-overwrite]

Scores a version of the model on labelled rows (the truth in body_mass_g) by
period, and pins n, rmse, mae, rsq and bias of each period into the store
next to the version. Periods that overlap ones already pinned are refused
unless -overwrite is given. -alias scores the version an alias points to.

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
	alias := fs.String("alias", "", "score the version this store alias points to (instead of -version)")
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
	f, err := os.Open(*data)
	if err != nil {
		fmt.Fprintln(stderr, "model-service evaluate:", err)
		return 1
	}
	defer f.Close()
	err = evaluation.Run(stdout, evaluation.Options{
		Store: *store, Version: *version, Alias: *alias, Data: f, DataName: *data,
		DateColumn: *dateCol, Period: *period, Predictions: *predictions, Overwrite: *overwrite,
	})
	if err != nil {
		fmt.Fprintln(stderr, "model-service evaluate:", err)
		return 1
	}
	return 0
}

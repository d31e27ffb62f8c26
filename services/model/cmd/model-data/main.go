// Command model-data keeps the penguins in PostgreSQL and trains from there.
// It is the database side of the model service, in its own small image, so
// that the model-service image carries no database driver.
//
//	model-data seed               load the penguins into the database, idempotently
//	model-data train -store D     fit the model on the database's penguins and
//	                              write a verified version to the model store D
//	model-data version            print build information
//
// Configuration: PENGUINS_DB_URL (a PostgreSQL connection string; sslmode
// and the other TLS settings pass through) with the password in
// PENGUINS_DB_PASSWORD_FILE (a Docker or Kubernetes secret) or
// PENGUINS_DB_PASSWORD. The prefix is not the model service's MODEL_, so
// the same shell can export these and run the model service.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/penguins"
	"github.com/palmerops/penguins/pkg/service"
	"github.com/palmerops/penguins/services/model/internal/evaluation"
	"github.com/palmerops/penguins/services/model/internal/pgdata"
)

func main() {
	os.Exit(service.Dispatch("model-data", usage, "", map[string]service.Command{
		"seed":     command("seed", seed),
		"train":    command("train", train),
		"evaluate": command("evaluate", evaluate),
	}, os.Args[1:]))
}

const usage = `usage: model-data command [flags]

commands:
  seed         load the penguins into the database (PENGUINS_DB_URL), idempotently
  train        fit the model on the database's penguins; write a verified version to -store
  evaluate     score a version of -store on the database's penguins by period (their year); pin the metrics
  version      print build information
`

// command wraps seed and train: both load the configuration and talk to
// the database within a minute.
func command(name string, body func(ctx context.Context, db pgdata.Config, args []string, fail func(error) int) int) service.Command {
	return func(args []string) int {
		fail := func(err error) int {
			fmt.Fprintf(os.Stderr, "model-data %s: %v\n", name, err)
			return 1
		}
		var cfg Config
		if err := service.LoadConfig(envPrefix, &cfg); err != nil {
			return fail(err)
		}
		db, err := cfg.database()
		if err != nil {
			return fail(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return body(ctx, db, args, fail)
	}
}

func seed(ctx context.Context, db pgdata.Config, args []string, fail func(error) int) int {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	data := fs.String("data", "", "CSV file to load (default: the embedded penguins data)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var src penguins.Source = penguins.Embedded{}
	if *data != "" {
		src = penguins.CSVFile{Path: *data}
	}
	rows, err := src.Load(ctx)
	if err != nil {
		return fail(err)
	}
	res, err := pgdata.Seed(ctx, db, rows)
	if err != nil {
		return fail(err)
	}
	fmt.Printf("seeded %s from %s: %d migration(s) applied, %d row(s) inserted, %d updated, %d unchanged (data sha256 %s)\n",
		db.Describe(), src.Describe(), res.Migrated, res.Inserted, res.Updated, len(rows)-res.Inserted-res.Updated, penguins.Digest(rows))
	return 0
}

func train(ctx context.Context, db pgdata.Config, args []string, fail func(error) int) int {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	dir := fs.String("store", "", "model store directory to write the new version to (required)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "model-data train: -store is required")
		return 2
	}
	src := pgdata.Source{Config: db}
	a, path, err := massmodel.TrainToStore(ctx, src, *dir, time.Now())
	if err != nil {
		return fail(err)
	}
	fmt.Printf("trained %s version %s from %s (%d of %d rows, R² %.4f, data sha256 %s)\nwrote %s\n",
		a.Name, a.Version, src.Describe(), a.Data.TrainingRows, a.Data.Rows, a.Metrics.R2, a.Data.SHA256, path)
	return 0
}

// evaluate scores a version of the store on the table's penguins, whose
// year is their date and body_mass_g their truth, as model-service evaluate
// does with a CSV file.
func evaluate(ctx context.Context, db pgdata.Config, args []string, fail func(error) int) int {
	fs := flag.NewFlagSet("evaluate", flag.ContinueOnError)
	dir := fs.String("store", "", "model store directory (required)")
	period := fs.String("period", "year", "period to score by: "+strings.Join(massmodel.Periods, ", ")+" (the table dates each penguin by its year)")
	version := fs.String("version", "", "version to score (default the newest in the store)")
	alias := fs.String("alias", "", "score the version this store alias points to (instead of -version)")
	overwrite := fs.Bool("overwrite", false, "replace pinned periods that overlap the new ones")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dir == "" || fs.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "model-data evaluate: -store is required, and takes no arguments")
		return 2
	}
	src := pgdata.Source{Config: db}
	rows, err := src.Load(ctx)
	if err != nil {
		return fail(err)
	}
	var labelled bytes.Buffer
	if err := penguins.WriteCSV(&labelled, rows); err != nil {
		return fail(err)
	}
	err = evaluation.Run(os.Stdout, evaluation.Options{
		Store: *dir, Version: *version, Alias: *alias, Data: &labelled, DataName: src.Describe(),
		DateColumn: "year", Period: *period, Overwrite: *overwrite,
	})
	if err != nil {
		return fail(err)
	}
	return 0
}

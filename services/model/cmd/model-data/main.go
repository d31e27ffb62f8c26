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
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/penguins"
	"github.com/palmerops/penguins/pkg/service"
	"github.com/palmerops/penguins/services/model/internal/pgdata"
)

func main() {
	os.Exit(service.Dispatch("model-data", usage, "", map[string]service.Command{
		"seed":  command("seed", seed),
		"train": command("train", train),
	}, os.Args[1:]))
}

const usage = `usage: model-data command [flags]

commands:
  seed         load the penguins into the database (PENGUINS_DB_URL), idempotently
  train        fit the model on the database's penguins; write a verified version to -store
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

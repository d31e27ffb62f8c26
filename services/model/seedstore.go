package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/palmerops/penguins/pkg/massmodel"
)

const seedStoreUsage = `usage: model-service seed-store -board B -store D

Seeds model store D from the released board B (deploy/models, carried in
the image at /board): it copies each version of B that D lacks, verified as
it is read, with its pinned metrics, and sets each alias of B that D has not
set, recorded in D's promotion history by seed-store. An alias D already
has is left where it is: promotions made in the store win over the board.
Run again, it changes nothing, so it runs before every start: compose's
store-seed job, Kubernetes' seed-store init container.

`

// seedActor names seed-store in the promotion history.
const seedActor = "seed-store"

func seedStoreCmd(args []string) int { return seedStoreMain(args, os.Stdout, os.Stderr) }

func seedStoreMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("seed-store", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, seedStoreUsage)
		fs.PrintDefaults()
	}
	board := fs.String("board", "", "released model board to seed from, e.g. /board")
	store := fs.String("store", os.Getenv("MODEL_STORE"), "model store directory to seed (default $MODEL_STORE)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *board == "" || *store == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "model-service seed-store: -board and -store are required, and no arguments")
		fs.Usage()
		return 2
	}
	if *board == *store {
		fmt.Fprintln(stderr, "model-service seed-store: -board and -store are the same directory")
		return 2
	}
	if err := seedStore(stdout, massmodel.Store{Dir: *board}, massmodel.Store{Dir: *store}, time.Now()); err != nil {
		fmt.Fprintln(stderr, "model-service seed-store:", err)
		return 1
	}
	return 0
}

// seedLockWait bounds how long seed-store waits for another promotion (a
// second pod seeding the same store) to release the store's lock; a
// promotion holds it for milliseconds.
const (
	seedLockWait  = 5 * time.Second
	seedLockRetry = 100 * time.Millisecond
)

// seedStore copies board's versions and aliases into store, as the usage
// says. Every board version is verified before anything is written, so a
// bad board leaves the store as it was.
func seedStore(w io.Writer, board, store massmodel.Store, now time.Time) error {
	if st, err := os.Stat(store.Dir); err != nil {
		return fmt.Errorf("model store: %w", err)
	} else if !st.IsDir() {
		return fmt.Errorf("model store: %s is not a directory", store.Dir)
	}
	vs, err := board.Versions(massmodel.Name)
	if err != nil {
		return fmt.Errorf("board %s: %w", board.Dir, err)
	}
	if len(vs) == 0 {
		return fmt.Errorf("board %s: %w", board.Dir, massmodel.ErrNoVersions)
	}
	artifacts := make([]*massmodel.Artifact, len(vs))
	metrics := make([][]massmodel.PeriodMetric, len(vs))
	for i, v := range vs {
		if artifacts[i], _, err = board.Load(massmodel.Name, v); err != nil {
			return fmt.Errorf("board %s: %w", board.Dir, err)
		}
		if metrics[i], err = board.Metrics(massmodel.Name, v); err != nil {
			return fmt.Errorf("board %s: %w", board.Dir, err)
		}
	}
	aliases, err := board.Aliases(massmodel.Name)
	if err != nil {
		return fmt.Errorf("board %s: %w", board.Dir, err)
	}
	for _, alias := range slices.Sorted(maps.Keys(aliases)) {
		if !slices.Contains(vs, aliases[alias]) {
			return fmt.Errorf("board %s: %s points to %s, which the board does not hold", board.Dir, alias, aliases[alias])
		}
	}
	have, err := store.Versions(massmodel.Name)
	if err != nil {
		return err
	}

	copied := 0
	for i, a := range artifacts {
		if !slices.Contains(have, a.Version) {
			if _, err := store.Write(a); err != nil {
				return err
			}
			copied++
			fmt.Fprintf(w, "copied version %s\n", a.Version)
		}
		if len(metrics[i]) == 0 {
			continue
		}
		// The store's own pinned metrics of a version win, as its aliases do.
		if pinned, err := store.Metrics(massmodel.Name, a.Version); err != nil {
			return err
		} else if len(pinned) == 0 {
			if _, err := store.PinMetrics(massmodel.Name, a.Version, metrics[i], false, now); err != nil {
				return err
			}
			fmt.Fprintf(w, "pinned the board's metrics of %s\n", a.Version)
		}
	}

	for _, alias := range slices.Sorted(maps.Keys(aliases)) {
		p, err := promoteWaiting(store, alias, aliases[alias], massmodel.PromoteOptions{
			Actor: seedActor, Reason: "seeded from the released board " + board.Dir, IfUnset: true,
		}, now)
		if err != nil {
			return err
		}
		if p.From == "" {
			fmt.Fprintf(w, "set %s -> %s\n", alias, p.To)
		} else {
			fmt.Fprintf(w, "%s already points to %s in the store; left alone (the board has %s)\n", alias, p.From, aliases[alias])
		}
	}
	fmt.Fprintf(w, "store %s seeded from %s: %d of %d board versions copied, %d aliases on the board\n",
		store.Dir, board.Dir, copied, len(vs), len(aliases))
	return nil
}

// promoteWaiting promotes, waiting up to seedLockWait while another
// promotion holds the store's lock.
func promoteWaiting(store massmodel.Store, alias, version string, opt massmodel.PromoteOptions, now time.Time) (massmodel.Promotion, error) {
	deadline := time.Now().Add(seedLockWait)
	for {
		p, err := store.Promote(massmodel.Name, alias, version, opt, now)
		if !errors.Is(err, massmodel.ErrLocked) || time.Now().After(deadline) {
			return p, err
		}
		time.Sleep(seedLockRetry)
	}
}

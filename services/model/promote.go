package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"time"

	"github.com/palmerops/penguins/pkg/massmodel"
)

const promoteUsage = `usage: model-service promote -store D -alias A VERSION [-reason R] [-actor NAME] [-force] [-max-regression 0.05]

Points alias A at VERSION and appends the change to the store's promotion
history. Promotion to champion passes a gate: VERSION must verify, its
inputs must match the current champion's, and on every period both have
pinned (evaluate) its RMSE may be at most -max-regression worse. -force
overrides the RMSE check only; the history records that it did.

`

func promoteCmd(args []string) int { return promoteMain(args, os.Stdout, os.Stderr) }

func promoteMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("promote", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, promoteUsage)
		fs.PrintDefaults()
	}
	store := fs.String("store", os.Getenv("MODEL_STORE"), "model store directory (default $MODEL_STORE)")
	alias := fs.String("alias", "", "alias to point at the version, e.g. champion or challenger")
	reason := fs.String("reason", "", "why, for the history")
	actor := fs.String("actor", defaultActor(), "who, for the history (default $USER or the OS user)")
	force := fs.Bool("force", false, "promote to champion even if its RMSE regresses (the other checks still apply)")
	maxReg := fs.Float64("max-regression", massmodel.DefaultMaxRegression, "largest RMSE increase allowed on a period pinned for both, as a fraction")
	// Flags may follow the version: parse what comes after it too.
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var version string
	if fs.NArg() > 0 {
		version = fs.Arg(0)
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return 2
		}
	}
	if *store == "" || *alias == "" || version == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "model-service promote: -store, -alias and one VERSION are required")
		fs.Usage()
		return 2
	}
	s := massmodel.Store{Dir: *store}
	p, err := s.Promote(massmodel.Name, *alias, version, massmodel.PromoteOptions{
		Actor: *actor, Reason: *reason, Force: *force, MaxRegression: *maxReg,
	}, time.Now())
	if err != nil {
		fmt.Fprintln(stderr, "model-service promote:", err)
		return 1
	}
	if p.From == p.To {
		fmt.Fprintf(stdout, "%s already points to %s; nothing changed\n", p.Alias, p.To)
		return 0
	}
	printPromotion(stdout, p)
	return 0
}

func printPromotion(w io.Writer, p massmodel.Promotion) {
	from := p.From
	if from == "" {
		from = "(none)"
	}
	verb := "promoted"
	if p.Rollback {
		verb = "rolled back"
	}
	fmt.Fprintf(w, "%s %s: %s -> %s by %s", verb, p.Alias, from, p.To, p.Actor)
	if p.Forced {
		fmt.Fprint(w, " (forced past the RMSE check)")
	}
	if p.Reason != "" {
		fmt.Fprintf(w, ": %s", p.Reason)
	}
	fmt.Fprintln(w)
}

// defaultActor names whoever runs the command: $USER, else the OS user.
func defaultActor() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "unknown"
}

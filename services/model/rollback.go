package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/palmerops/penguins/pkg/massmodel"
)

const rollbackUsage = `usage: model-service rollback -store D -alias A [-reason R] [-actor NAME]

Points alias A back at the target it had before its current one, as the
promotion history tells; rolling back again steps back again. The earlier
target must still verify. The rollback is appended to the history.

`

func rollbackCmd(args []string) int { return rollbackMain(args, os.Stdout, os.Stderr) }

func rollbackMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rollback", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, rollbackUsage)
		fs.PrintDefaults()
	}
	store := fs.String("store", os.Getenv("MODEL_STORE"), "model store directory (default $MODEL_STORE)")
	alias := fs.String("alias", "", "alias to roll back, e.g. champion")
	reason := fs.String("reason", "", "why, for the history")
	actor := fs.String("actor", defaultActor(), "who, for the history (default $USER or the OS user)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *store == "" || *alias == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "model-service rollback: -store and -alias are required, and no arguments")
		fs.Usage()
		return 2
	}
	s := massmodel.Store{Dir: *store}
	p, err := s.Rollback(massmodel.Name, *alias, massmodel.PromoteOptions{Actor: *actor, Reason: *reason}, time.Now())
	if err != nil {
		fmt.Fprintln(stderr, "model-service rollback:", err)
		return 1
	}
	printPromotion(stdout, p)
	return 0
}

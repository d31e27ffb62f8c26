package service

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/palmerops/penguins/pkg/buildinfo"
)

// Command is a subcommand of a binary: it gets the arguments after its name
// and returns the exit code.
type Command func(args []string) int

// Dispatch runs the subcommand that args[0] names, or def when args is
// empty or starts with a flag (def "" means a command is required).
// "version" and "help" are built in. It returns the exit code, so that
// main exits in one place.
func Dispatch(name, usage, def string, cmds map[string]Command, args []string) int {
	cmd := def
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	if c, ok := cmds[cmd]; ok {
		return c(args)
	}
	switch cmd {
	case "version":
		b, _ := json.MarshalIndent(buildinfo.Read(), "", "  ")
		fmt.Println(string(b))
		return 0
	case "help", "-h", "--help":
		fmt.Print(usage)
		return 0
	case "":
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	fmt.Fprintf(os.Stderr, "%s: unknown command %q\n\n%s", name, cmd, usage)
	return 2
}

// RunServer is the body of a `serve` subcommand: it builds the JSON
// logger, traps SIGINT and SIGTERM (so `docker stop` drains), runs serve
// until they arrive, and returns the exit code: 1, after logging why, when
// serve fails.
func RunServer(name, env string, level zapcore.Level, serve func(ctx context.Context, log *zap.Logger) error) int {
	// Signals stay trapped until the logs are flushed (deferred calls run
	// last first): a second Ctrl-C during the flush cannot cut it short.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log, flush := NewLogger(os.Stdout, name, env, buildinfo.Version, level)
	defer flush() // after the last line: a graceful stop loses none
	if err := serve(ctx, log); err != nil {
		log.Error(name+" failed", zap.Error(err))
		return 1
	}
	return 0
}

package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/palmerops/penguins/services/model/internal/auth"
)

const keysUsage = `usage: model-service keys add    -file F -name NAME -scope predict[,read] [-stdin]
       model-service keys list   -file F
       model-service keys revoke -file F -name NAME

Manages the API keys of a keys file (MODEL_API_KEYS_FILE), one key a line:
its name, the SHA-256 of the key, its scopes and when it was created. The
key itself is never stored.

  add     generates a key (or, with -stdin, takes one of at least 32
          printable ASCII characters from standard input), appends its hash
          and prints the key on standard output, once: store it now
  list    prints each key's name, scopes and creation time
  revoke  removes a key; a running service stops accepting it within
          seconds, without a restart

Scopes: predict (/predict, /v2/.../infer) and read (/metadata,
/monitoring/*, ...). Edits are locked and atomic.

`

func keysCmd(args []string) int { return keysMain(args, os.Stdin, os.Stdout, os.Stderr) }

func keysMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	usage := func() int {
		fmt.Fprint(stderr, keysUsage)
		return 2
	}
	if len(args) == 0 {
		return usage()
	}
	fs := flag.NewFlagSet("keys "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, keysUsage)
		fs.PrintDefaults()
	}
	file := fs.String("file", os.Getenv("MODEL_API_KEYS_FILE"), "keys file (default $MODEL_API_KEYS_FILE)")
	var name, scope *string
	var stdinKey *bool
	switch args[0] {
	case "add":
		name = fs.String("name", "", "the key's name, as logs and metrics show it")
		scope = fs.String("scope", "", "comma-separated scopes: predict, read")
		stdinKey = fs.Bool("stdin", false, "read the key from standard input instead of generating one")
	case "revoke":
		name = fs.String("name", "", "the name of the key to revoke")
	case "list":
	default:
		fmt.Fprintf(stderr, "model-service keys: unknown command %q\n", args[0])
		return usage()
	}
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "model-service keys %s: %v\n", args[0], err)
		return 1
	}
	if *file == "" || fs.NArg() > 0 || (name != nil && *name == "") || (scope != nil && *scope == "") {
		need := "-file (or MODEL_API_KEYS_FILE)"
		switch args[0] {
		case "add":
			need += ", -name and -scope"
		case "revoke":
			need += " and -name"
		}
		fmt.Fprintf(stderr, "model-service keys %s: %s required, and no arguments\n", args[0], need)
		fs.Usage()
		return 2
	}
	switch args[0] {
	case "add":
		scopes, err := auth.ParseScopes(*scope)
		if err != nil {
			return fail(fmt.Errorf("-scope: %w", err))
		}
		var key string
		if *stdinKey {
			line, err := bufio.NewReader(stdin).ReadString('\n')
			if err != nil && err != io.EOF {
				return fail(fmt.Errorf("reading the key from standard input: %w", err))
			}
			if key = strings.TrimRight(line, "\r\n"); key == "" {
				return fail(fmt.Errorf("-stdin: no key on standard input"))
			}
		}
		key, err = auth.Add(*file, *name, scopes, key, time.Now())
		if err != nil {
			return fail(err)
		}
		fmt.Fprintln(stdout, key)
		fmt.Fprintf(stderr, "added key %q (scopes %s) to %s; the key above is shown once and stored nowhere: keep it now\n",
			*name, *scope, *file)
	case "list":
		entries, err := auth.Load(*file)
		if err != nil {
			return fail(err)
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSCOPES\tCREATED")
		for _, e := range entries {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", e.Name, e.ScopeList(), e.Created.UTC().Format(time.RFC3339))
		}
		if err := tw.Flush(); err != nil {
			return fail(err)
		}
	case "revoke":
		if err := auth.Revoke(*file, *name); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stderr, "revoked key %q in %s; running services stop accepting it within seconds\n", *name, *file)
	}
	return 0
}

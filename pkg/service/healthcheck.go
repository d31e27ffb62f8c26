package service

import (
	"flag"
	"fmt"
	"os"
	"time"
)

// HealthcheckCmd is the binaries' `healthcheck` subcommand, for images with
// no shell or curl: it probes /readyz on the port of the listen address in
// the environment variable addrVar (defaultAddr when unset) and returns the
// exit code: 0 when ready, 1 otherwise, 2 for bad flags.
func HealthcheckCmd(args []string, addrVar, defaultAddr string) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	url := fs.String("url", "", "URL to probe (default: /readyz on $"+addrVar+"'s port on 127.0.0.1)")
	timeout := fs.Duration("timeout", 2*time.Second, "how long to wait for an answer")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *url == "" {
		addr := os.Getenv(addrVar)
		if addr == "" {
			addr = defaultAddr
		}
		u, err := ProbeURL(addr, "/readyz")
		if err != nil {
			fmt.Fprintln(os.Stderr, "healthcheck:", err)
			return 1
		}
		*url = u
	}
	if err := Probe(*url, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck: not ready:", err)
		return 1
	}
	fmt.Println("healthcheck: ready")
	return 0
}

// Package service holds what both services share around their handlers:
// configuration from the environment, logging, request ids and access logs,
// HTTP metrics, graceful serving and the healthcheck probe.
package service

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"
)

// LoadConfig fills cfg (a pointer to a struct whose fields all carry an
// `envconfig:"PREFIX_NAME"` tag with the full variable name) from the
// environment. A malformed value, a missing required one, or a PREFIX_
// variable that names no field is an error that names the variable.
//
// Tags carry the full name because envconfig falls back to the bare tag
// when the prefixed variable is unset: with `envconfig:"VERSION"` and
// prefix MODEL, an unrelated VERSION variable would configure the service.
func LoadConfig(prefix string, cfg any) error {
	known := map[string]bool{}
	for _, f := range fields(cfg) {
		name := f.Tag.Get("envconfig")
		if !strings.HasPrefix(name, prefix+"_") {
			panic(fmt.Sprintf("service: config field %s: variable %s lacks the prefix %s_", f.Name, name, prefix))
		}
		known[name] = true
	}
	if err := envconfig.Process("", cfg); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	var unknown []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, prefix+"_") && !known[name] {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		names := make([]string, 0, len(known))
		for k := range known {
			names = append(names, k)
		}
		sort.Strings(names)
		return fmt.Errorf("config: unknown variable %s (misspelt? known: %s)", strings.Join(unknown, ", "), strings.Join(names, ", "))
	}
	return nil
}

// ConfigFields returns cfg's values keyed by variable name, for logging.
// Fields tagged `secret:"true"` are masked when set, and the credentials
// of any URL are redacted.
func ConfigFields(cfg any) map[string]string {
	out := map[string]string{}
	v := reflect.Indirect(reflect.ValueOf(cfg))
	for _, f := range fields(cfg) {
		val := fmt.Sprint(v.FieldByIndex(f.Index).Interface())
		if f.Tag.Get("secret") == "true" && val != "" {
			val = "****"
		}
		val = RedactURL(val)
		out[f.Tag.Get("envconfig")] = val
	}
	return out
}

// RedactURL returns s with the user name and password of a URL replaced
// by "redacted", for showing configuration in logs and pages; any other
// string is returned as it is.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		// Unparsable, yet it may carry credentials: scheme://userinfo@host.
		if i := strings.Index(s, "://"); i >= 0 {
			rest := s[i+3:]
			auth := rest
			if j := strings.IndexAny(rest, "/?#"); j >= 0 {
				auth = rest[:j]
			}
			if at := strings.LastIndex(auth, "@"); at >= 0 {
				return s[:i+3] + "redacted" + rest[at:]
			}
		}
		return s
	}
	if u.User == nil || u.Scheme == "" {
		return s
	}
	u.User = url.User("redacted")
	return u.String()
}

func fields(cfg any) []reflect.StructField {
	t := reflect.Indirect(reflect.ValueOf(cfg)).Type()
	var out []reflect.StructField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Tag.Get("envconfig") == "" {
			panic(fmt.Sprintf("service: config field %s has no envconfig tag", f.Name))
		}
		out = append(out, f)
	}
	return out
}

// CheckServer checks the settings every service has: the listen address,
// the environment's name and positive durations (keyed by variable name).
// Each error names its variable.
func CheckServer(prefix, addr, env string, durations map[string]time.Duration) []error {
	var errs []error
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		errs = append(errs, fmt.Errorf("config: %s_ADDR: want host:port such as :8080, got %q", prefix, addr))
	}
	switch env {
	case "dev", "staging", "prod":
	default:
		errs = append(errs, fmt.Errorf("config: %s_ENV: want dev, staging or prod, got %q", prefix, env))
	}
	names := make([]string, 0, len(durations))
	for name := range durations {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if d := durations[name]; d <= 0 {
			errs = append(errs, fmt.Errorf("config: %s: want a positive duration such as 10s, got %s", name, d))
		}
	}
	return errs
}

// ByteSize is a size in bytes that parses "512", "64KiB", "8MiB" or "1GiB".
type ByteSize int64

// Decode implements envconfig.Decoder.
func (b *ByteSize) Decode(s string) error {
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}, {"", 1}}
	s = strings.TrimSpace(s)
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			var n int64
			if _, err := fmt.Sscan(num, &n); err != nil || n <= 0 || fmt.Sprint(n) != strings.TrimSpace(num) {
				return fmt.Errorf("want a positive size such as 512KiB or 8MiB, got %q", s)
			}
			if n > math.MaxInt64/u.mult {
				return fmt.Errorf("size %q is too large", s)
			}
			*b = ByteSize(n * u.mult)
			return nil
		}
	}
	return fmt.Errorf("want a positive size such as 512KiB or 8MiB, got %q", s)
}

func (b ByteSize) String() string {
	switch {
	case b%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", b>>30)
	case b%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", b>>20)
	case b%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", b>>10)
	}
	return fmt.Sprintf("%dB", int64(b))
}

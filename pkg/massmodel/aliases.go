package massmodel

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"time"
)

// AliasesFile holds a model's aliases: <store>/<name>/aliases.json.
const AliasesFile = "aliases.json"

// HistoryFile is a model's promotion history, one JSON object a line,
// appended and never rewritten: <store>/<name>/promotions.jsonl.
const HistoryFile = "promotions.jsonl"

// Champion is the alias the promotion gate guards.
const Champion = "champion"

var aliasPattern = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

// ValidAlias reports whether a is a well-formed alias name.
func ValidAlias(a string) bool { return aliasPattern.MatchString(a) }

var (
	// ErrBadAlias is wrapped when an alias name breaks the rule.
	ErrBadAlias = errors.New("bad alias name")
	// ErrUnknownAlias is wrapped when an alias points nowhere.
	ErrUnknownAlias = errors.New("unknown alias")
	// ErrNoPrevious is wrapped by Rollback when the history holds no
	// earlier target to go back to.
	ErrNoPrevious = errors.New("no previous target")
)

// aliasFile is the stored form of a model's aliases. Like pinned metrics it
// carries the sha256 of its own content, so an edited or damaged file is
// refused rather than read as fewer aliases.
type aliasFile struct {
	Name          string            `json:"name"`
	ContentSHA256 string            `json:"content_sha256"` // sha256 of the JSON with this field empty
	Updated       time.Time         `json:"updated"`
	Aliases       map[string]string `json:"aliases"` // alias → version
}

func (f aliasFile) digest() (string, error) {
	f.ContentSHA256 = ""
	return digestJSON(f)
}

func (f aliasFile) recordedDigest() string { return f.ContentSHA256 }

// Promotion is one change of an alias, as recorded in the history.
type Promotion struct {
	Time     time.Time `json:"time"`
	Alias    string    `json:"alias"`
	From     string    `json:"from"` // empty when the alias was new
	To       string    `json:"to"`
	Actor    string    `json:"actor"`
	Reason   string    `json:"reason"`
	Forced   bool      `json:"forced"`             // the metric check was overridden
	Rollback bool      `json:"rollback,omitempty"` // a rollback, not a promotion
}

func checkAlias(alias string) error {
	if !ValidAlias(alias) {
		return fmt.Errorf("model store: %w %q: want a lowercase letter, then lowercase letters, digits or '-'", ErrBadAlias, alias)
	}
	return nil
}

// Aliases reads the named model's aliases. A model with no alias file has
// none (and no error); a corrupt, truncated or edited file is an error.
func (s Store) Aliases(name string) (map[string]string, error) {
	f, err := s.readAliases(name)
	if err != nil {
		return nil, err
	}
	return f.Aliases, nil
}

// Alias resolves an alias of the named model to the version it points to.
func (s Store) Alias(name, alias string) (string, error) {
	if err := checkAlias(alias); err != nil {
		return "", err
	}
	m, err := s.Aliases(name)
	if err != nil {
		return "", err
	}
	v, ok := m[alias]
	if !ok {
		return "", fmt.Errorf("model store: %w %q for %s", ErrUnknownAlias, alias, name)
	}
	return v, nil
}

func (s Store) readAliases(name string) (*aliasFile, error) {
	path := filepath.Join(s.Dir, name, AliasesFile)
	var f aliasFile
	if found, err := readHashed(path, &f); err != nil {
		return nil, err
	} else if !found {
		return &aliasFile{Name: name, Aliases: map[string]string{}}, nil
	}
	if f.Name != name {
		return nil, fmt.Errorf("model store: %s records model %q", path, f.Name)
	}
	for a, v := range f.Aliases {
		if !ValidAlias(a) || !ValidVersion(v) {
			return nil, fmt.Errorf("model store: %s: bad entry %q → %q", path, a, v)
		}
	}
	if f.Aliases == nil {
		f.Aliases = map[string]string{}
	}
	return &f, nil
}

// History reads the named model's promotion history, oldest first. A model
// never promoted has none; a line that does not decode is an error naming it.
func (s Store) History(name string) ([]Promotion, error) {
	path := filepath.Join(s.Dir, name, HistoryFile)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("model store: %w", err)
	}
	defer f.Close()
	var out []Promotion
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for line := 1; sc.Scan(); line++ {
		var p Promotion
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			return nil, fmt.Errorf("model store: %s line %d: %w", path, line, err)
		}
		out = append(out, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("model store: %s: %w", path, err)
	}
	return out, nil
}

// PromoteOptions say who promotes, why, and how strict the gate is.
type PromoteOptions struct {
	Actor  string
	Reason string
	// Force overrides the gate's metric check, and only that.
	Force bool
	// MaxRegression is the relative RMSE increase the gate allows on a
	// period both versions have pinned: 0.05 allows 5% worse.
	MaxRegression float64
	// IfUnset sets the alias only when it points nowhere yet, judged under
	// the lock; an alias already set is left alone (From == To). Seeding a
	// store from a released board uses it, so that it never moves an alias
	// somebody promoted meanwhile.
	IfUnset bool
}

// Promote points alias at version and appends the change to the history,
// under the store's lock. Promotion to Champion passes the gate first (see
// Gate). Promoting an alias to the version it already points to changes
// nothing and returns a Promotion with From == To. On any error the store
// is left as it was.
func (s Store) Promote(name, alias, version string, opt PromoteOptions, now time.Time) (Promotion, error) {
	if err := checkAlias(alias); err != nil {
		return Promotion{}, err
	}
	if !ValidVersion(version) {
		return Promotion{}, fmt.Errorf("model store: %q is not a version id (want e.g. 20260101T120000Z-0123456789ab)", version)
	}
	if opt.MaxRegression < 0 {
		return Promotion{}, fmt.Errorf("model store: max regression %g is negative", opt.MaxRegression)
	}
	unlock, err := s.lock(now)
	if err != nil {
		return Promotion{}, err
	}
	defer unlock()
	af, err := s.readAliases(name)
	if err != nil {
		return Promotion{}, err
	}
	// Verify under the lock: what is checked is what gets promoted.
	cand, _, err := s.Load(name, version)
	if err != nil {
		return Promotion{}, fmt.Errorf("refusing %s for %s: it fails verification: %w", version, alias, err)
	}
	from := af.Aliases[alias]
	if opt.IfUnset && from != "" {
		return Promotion{Time: now.UTC(), Alias: alias, From: from, To: from}, nil
	}
	if from == version {
		return Promotion{Time: now.UTC(), Alias: alias, From: from, To: version}, nil
	}
	forced := false
	if alias == Champion && from != "" {
		if forced, err = s.gate(name, from, cand, opt); err != nil {
			return Promotion{}, err
		}
	}
	p := Promotion{Time: now.UTC(), Alias: alias, From: from, To: version, Actor: opt.Actor, Reason: opt.Reason, Forced: forced}
	return p, s.record(af, p)
}

// Rollback points alias back at the target it had before its current one,
// as the history tells, and records that as a rollback. The earlier target
// must still verify; the gate's schema and metric checks do not apply, as
// it held the alias before.
func (s Store) Rollback(name, alias string, opt PromoteOptions, now time.Time) (Promotion, error) {
	if err := checkAlias(alias); err != nil {
		return Promotion{}, err
	}
	unlock, err := s.lock(now)
	if err != nil {
		return Promotion{}, err
	}
	defer unlock()
	af, err := s.readAliases(name)
	if err != nil {
		return Promotion{}, err
	}
	cur, ok := af.Aliases[alias]
	if !ok {
		return Promotion{}, fmt.Errorf("model store: %w %q for %s", ErrUnknownAlias, alias, name)
	}
	hist, err := s.History(name)
	if err != nil {
		return Promotion{}, err
	}
	// Replay the alias's history as a stack: a promotion pushes its
	// target, a rollback pops one. Rolling back twice goes back two steps.
	var stack []string
	for _, p := range hist {
		if p.Alias != alias {
			continue
		}
		if p.Rollback && len(stack) > 0 {
			stack = stack[:len(stack)-1]
			continue
		}
		stack = append(stack, p.To)
	}
	if len(stack) == 0 || stack[len(stack)-1] != cur {
		return Promotion{}, fmt.Errorf("model store: %s points to %s but its history does not end there; not rolling back", alias, cur)
	}
	if len(stack) < 2 {
		return Promotion{}, fmt.Errorf("model store: %w for %s: the history holds only its current target %s", ErrNoPrevious, alias, cur)
	}
	prev := stack[len(stack)-2]
	if _, _, err := s.Load(name, prev); err != nil {
		return Promotion{}, fmt.Errorf("refusing rollback of %s to %s: it fails verification: %w", alias, prev, err)
	}
	p := Promotion{Time: now.UTC(), Alias: alias, From: cur, To: prev, Actor: opt.Actor, Reason: opt.Reason, Rollback: true}
	return p, s.record(af, p)
}

// record writes the new alias file and appends p to the history so that a
// failure at any step leaves both as they were: the alias file is staged
// and flushed first, the history line appended and flushed, and only then
// is the alias file renamed into place; a failed rename truncates the
// history back.
func (s Store) record(af *aliasFile, p Promotion) (err error) {
	dir := filepath.Join(s.Dir, af.Name)
	next := aliasFile{Name: af.Name, Updated: p.Time, Aliases: map[string]string{}}
	for a, v := range af.Aliases {
		next.Aliases[a] = v
	}
	next.Aliases[p.Alias] = p.To
	if next.ContentSHA256, err = next.digest(); err != nil {
		return fmt.Errorf("model store: encoding aliases: %w", err)
	}
	line, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("model store: encoding promotion: %w", err)
	}
	// The history line goes in before the alias file is renamed into
	// place, and is taken back if that fails: the two never disagree.
	return writeHashed(dir, AliasesFile, next, func() (func() error, error) {
		undo, err := appendLine(filepath.Join(dir, HistoryFile), line)
		if err != nil {
			return nil, fmt.Errorf("model store: appending to the promotion history: %w", err)
		}
		return undo, nil
	})
}

// appendLine appends line and a newline to path, flushed to disk, creating
// the file if need be. undo takes the append back: it truncates the file to
// its old length, or removes it if the append created it.
func appendLine(path string, line []byte) (undo func() error, err error) {
	var size int64
	created := false
	if st, err := os.Stat(path); err == nil {
		size = st.Size()
	} else if errors.Is(err, fs.ErrNotExist) {
		created = true
	} else {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	undo = func() error {
		if created {
			return os.Remove(path)
		}
		return os.Truncate(path, size)
	}
	_, err = f.Write(append(slices.Clip(line), '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && created {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		return nil, errors.Join(err, undo())
	}
	return undo, nil
}

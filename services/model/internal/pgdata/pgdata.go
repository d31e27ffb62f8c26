// Package pgdata keeps the penguins in PostgreSQL: a training data source
// that reads and checks the penguins table, and the seed that loads it,
// behind a versioned schema migration.
package pgdata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/palmerops/penguins/pkg/penguins"
)

// Table is the table that holds the penguins; id is the row's position in
// the published CSV, so reading in id order reproduces it.
const Table = "penguins"

// ConnectTimeout bounds connecting, so an unreachable database fails fast.
const ConnectTimeout = 5 * time.Second

// Config locates the database. The password is kept apart from the URL so
// that it can come from a secret file and is never part of a logged string.
type Config struct {
	URL      string // e.g. postgres://penguins@db:5432/penguins?sslmode=verify-full
	Password string // overrides any password in URL when set
}

func (c Config) connConfig() (*pgx.ConnConfig, error) {
	cc, err := pgx.ParseConfig(c.URL)
	if err != nil {
		// pgx's message may echo the URL, password included: say less.
		return nil, errors.New("database URL is not a valid PostgreSQL connection string")
	}
	if c.Password != "" {
		cc.Password = c.Password
	}
	cc.ConnectTimeout = ConnectTimeout
	return cc, nil
}

// Describe names the database without credentials: postgres://host:port/db.
func (c Config) Describe() string {
	cc, err := c.connConfig()
	if err != nil {
		return "postgres:(invalid URL)"
	}
	return fmt.Sprintf("postgres://%s:%d/%s", cc.Host, cc.Port, cc.Database)
}

func (c Config) connect(ctx context.Context) (*pgx.Conn, error) {
	cc, err := c.connConfig()
	if err != nil {
		return nil, err
	}
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %s", c.Describe(), connError(err))
	}
	return conn, nil
}

// connError says why a connection failed, without the connection string.
func connError(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "28P01", "28000":
			return "authentication failed (wrong user or password)"
		case "3D000":
			return "the database does not exist"
		}
		return pgErr.Message
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		msg := ce.Unwrap().Error()
		switch {
		case strings.Contains(msg, "connection refused"):
			return "connection refused (is the database running and reachable?)"
		case strings.Contains(msg, "timeout"), strings.Contains(msg, "deadline"):
			return fmt.Sprintf("no answer within %s (is the address right?)", ConnectTimeout)
		}
		return msg
	}
	return err.Error()
}

// Source reads the training data from the penguins table. It implements
// penguins.Source.
type Source struct{ Config Config }

// Describe implements penguins.Source.
func (s Source) Describe() string { return s.Config.Describe() + "/" + Table }

// column is one column the table must have, with the PostgreSQL types
// accepted for it.
type column struct {
	name     string
	types    []string
	nullable bool
}

var columns = []column{
	{"id", []string{"integer", "bigint"}, false},
	{"species", []string{"text", "character varying"}, false},
	{"island", []string{"text", "character varying"}, false},
	{"bill_length_mm", []string{"double precision", "numeric", "real"}, true},
	{"bill_depth_mm", []string{"double precision", "numeric", "real"}, true},
	{"flipper_length_mm", []string{"double precision", "numeric", "real", "integer"}, true},
	{"body_mass_g", []string{"double precision", "numeric", "real", "integer"}, true},
	{"sex", []string{"text", "character varying"}, true},
	{"year", []string{"integer", "smallint", "bigint"}, false},
}

// Load implements penguins.Source: it checks the table's schema, then reads
// every row in id order. NULL is NA, exactly as in the CSV.
func (s Source) Load(ctx context.Context) ([]penguins.Penguin, error) {
	conn, err := s.Config.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	if err := checkSchema(ctx, conn); err != nil {
		return nil, err
	}
	rows, err := conn.Query(ctx, `SELECT id, species, island, bill_length_mm::float8, bill_depth_mm::float8,
		flipper_length_mm::float8, body_mass_g::float8, sex, year::int FROM `+Table+` ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %s", s.Describe(), queryError(err))
	}
	defer rows.Close()
	var out []penguins.Penguin
	for rows.Next() {
		var (
			id              int
			species, island string
			sex             *string
			p               penguins.Penguin
			bill, depth, fl *float64
			mass            *float64
		)
		if err := rows.Scan(&id, &species, &island, &bill, &depth, &fl, &mass, &sex, &p.Year); err != nil {
			return nil, fmt.Errorf("reading %s: %s", s.Describe(), queryError(err))
		}
		if p, err = toPenguin(id, species, island, bill, depth, fl, mass, sex, p.Year); err != nil {
			return nil, fmt.Errorf("%s: %w", s.Describe(), err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %s", s.Describe(), queryError(err))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: the table is empty (run `model-data seed`)", s.Describe())
	}
	return out, nil
}

func queryError(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Message
	}
	if pgconn.SafeToRetry(err) || errors.Is(err, context.DeadlineExceeded) {
		return "the connection was lost: " + err.Error()
	}
	return "the connection was lost or the query failed: " + err.Error()
}

// checkSchema names a missing column or a wrong column type.
func checkSchema(ctx context.Context, conn *pgx.Conn) error {
	rows, err := conn.Query(ctx, `SELECT column_name, data_type, is_nullable = 'YES'
		FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1`, Table)
	if err != nil {
		return fmt.Errorf("checking the schema: %s", queryError(err))
	}
	type info struct {
		typ      string
		nullable bool
	}
	have := map[string]info{}
	for rows.Next() {
		var name string
		var i info
		if err := rows.Scan(&name, &i.typ, &i.nullable); err != nil {
			return fmt.Errorf("checking the schema: %s", queryError(err))
		}
		have[name] = i
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("checking the schema: %s", queryError(err))
	}
	if len(have) == 0 {
		return fmt.Errorf("there is no table %q in the database (run `model-data seed`)", Table)
	}
	var problems []string
	for _, c := range columns {
		i, ok := have[c.name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("column %q is missing", c.name))
		case !contains(c.types, i.typ):
			problems = append(problems, fmt.Sprintf("column %q has type %s, want %s", c.name, i.typ, strings.Join(c.types, " or ")))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("table %q does not have the penguins schema: %s", Table, strings.Join(problems, "; "))
	}
	return nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// toPenguin checks one row as the CSV parser does, naming the row by id.
func toPenguin(id int, species, island string, bill, depth, fl, mass *float64, sex *string, year int) (penguins.Penguin, error) {
	p := penguins.Penguin{Island: island, Year: year}
	var ok bool
	if p.Species, ok = penguins.ParseSpecies(species); !ok {
		return p, fmt.Errorf("row id %d, column \"species\": %q is not one of %s", id, species, strings.Join(penguins.SpeciesNames(), ", "))
	}
	for i, v := range []*float64{bill, depth, fl, mass} {
		if v != nil && !(*v > 0 && !math.IsInf(*v, 0)) {
			return p, fmt.Errorf("row id %d, column %q: %g is not a positive number", id, penguins.Measures[i].Column, *v)
		}
	}
	p.BillLengthMM, p.BillDepthMM = nullFloat(bill), nullFloat(depth)
	p.FlipperLengthMM, p.BodyMassG = nullFloat(fl), nullFloat(mass)
	if sex != nil {
		if p.Sex, ok = penguins.ParseSex(*sex); !ok {
			return p, fmt.Errorf("row id %d, column \"sex\": %q is not female, male or NULL", id, *sex)
		}
	}
	return p, nil
}

func nullFloat(v *float64) sql.NullFloat64 {
	if v == nil {
		return sql.NullFloat64{}
	}
	return sql.NullFloat64{Float64: *v, Valid: true}
}

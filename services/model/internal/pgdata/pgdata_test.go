package pgdata

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/pkg/penguins"
	"github.com/palmerops/penguins/services/model/internal/pgdata/pgtest"
)

// These tests run against a real PostgreSQL server (see pgtest.New).

func testDB(t testing.TB) Config {
	url, password := pgtest.New(t)
	return Config{URL: url, Password: password}
}

func embedded(t testing.TB) []penguins.Penguin {
	rows, err := penguins.Embedded{}.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func exec(t testing.TB, cfg Config, sql string) {
	t.Helper()
	conn, err := cfg.connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), sql); err != nil {
		t.Fatal(err)
	}
}

func TestSeedIsIdempotentAndTrainsAsTheCSV(t *testing.T) {
	cfg := testDB(t)
	ctx := context.Background()
	rows := embedded(t)
	res, err := Seed(ctx, cfg, rows)
	if err != nil {
		t.Fatal(err)
	}
	if res != (SeedResult{Migrated: 1, Inserted: 344}) {
		t.Errorf("first seed: %+v", res)
	}
	res, err = Seed(ctx, cfg, rows)
	if err != nil {
		t.Fatal(err)
	}
	if res != (SeedResult{}) {
		t.Errorf("second seed changed something: %+v", res)
	}
	// A changed row is updated, and only it.
	changed := append([]penguins.Penguin(nil), rows...)
	changed[0].BodyMassG.Float64++
	if res, err = Seed(ctx, cfg, changed); err != nil || res != (SeedResult{Updated: 1}) {
		t.Errorf("seed with one changed row: %+v, %v", res, err)
	}
	if _, err = Seed(ctx, cfg, rows); err != nil {
		t.Fatal(err)
	}

	src := Source{Config: cfg}
	got, err := src.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if penguins.Digest(got) != penguins.Digest(rows) {
		t.Fatal("rows read from PostgreSQL differ from the CSV's")
	}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	fromDB, _, err := massmodel.TrainFrom(ctx, src, now)
	if err != nil {
		t.Fatal(err)
	}
	fromCSV, _, err := massmodel.TrainFrom(ctx, penguins.Embedded{}, now)
	if err != nil {
		t.Fatal(err)
	}
	if fromDB.Data.SHA256 != fromCSV.Data.SHA256 || fromDB.Data.Rows != 344 || fromDB.Data.TrainingRows != 333 {
		t.Errorf("training data: db %+v, csv %+v", fromDB.Data, fromCSV.Data)
	}
	for i := range fromCSV.Coefficients {
		if fromDB.Coefficients[i] != fromCSV.Coefficients[i] {
			t.Errorf("coefficient %d: db %+v, csv %+v", i, fromDB.Coefficients[i], fromCSV.Coefficients[i])
		}
	}
	if strings.Contains(src.Describe(), cfg.Password) || !strings.HasPrefix(src.Describe(), "postgres://") {
		t.Errorf("Describe = %q", src.Describe())
	}
}

func TestSchemaIsChecked(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name, sql, want string
	}{
		{"no table", "", `there is no table "penguins"`},
		{"missing column", "ALTER TABLE penguins DROP COLUMN island", `column "island" is missing`},
		{"wrong type", "ALTER TABLE penguins DROP CONSTRAINT penguins_body_mass_g_check, ALTER COLUMN body_mass_g TYPE text", `column "body_mass_g" has type text`},
		{"empty table", "DELETE FROM penguins", "the table is empty"},
		{"bad value", "ALTER TABLE penguins DROP CONSTRAINT penguins_species_check; UPDATE penguins SET species = 'Emperor' WHERE id = 7",
			`row id 7, column "species": "Emperor"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := testDB(t)
			if c.sql != "" {
				if _, err := Seed(ctx, cfg, embedded(t)); err != nil {
					t.Fatal(err)
				}
				exec(t, cfg, c.sql)
			}
			_, err := Source{Config: cfg}.Load(ctx)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestConnectionFailuresAreFastAndClear(t *testing.T) {
	cfg := testDB(t)
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	wrong := cfg
	wrong.Password = "not-the-password"
	cases := map[string]struct {
		cfg  Config
		want string
	}{
		"wrong password": {wrong, "authentication failed"},
		"unreachable":    {Config{URL: "postgres://u@" + closed + "/db?sslmode=disable", Password: "secret-pw"}, "connection refused"},
		"malformed URL":  {Config{URL: "postgres://u:secret-pw@%zz/db"}, "not a valid PostgreSQL connection string"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			_, err := Source{Config: c.cfg}.Load(ctx)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
			if strings.Contains(err.Error(), "secret-pw") || strings.Contains(err.Error(), "not-the-password") {
				t.Errorf("the error shows the password: %v", err)
			}
			if d := time.Since(start); d > ConnectTimeout+time.Second {
				t.Errorf("took %s to fail", d)
			}
			if _, err := Seed(ctx, c.cfg, embedded(t)); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("seed: %v", err)
			}
		})
	}
}

// TestDroppedConnection kills the server side of a read in flight.
func TestDroppedConnection(t *testing.T) {
	cfg := testDB(t)
	ctx := context.Background()
	if _, err := Seed(ctx, cfg, embedded(t)); err != nil {
		t.Fatal(err)
	}
	// Hold a lock so the read waits, then terminate the reader's backend.
	locker, err := cfg.connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close(ctx)
	tx, err := locker.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "LOCK TABLE penguins IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := Source{Config: cfg}.Load(ctx)
		done <- err
	}()
	// A connection of its own: pg_stat_activity is a snapshot per
	// transaction, and the locker is inside one.
	killer, err := cfg.connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer killer.Close(ctx)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := killer.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			select {
			case err := <-done:
				t.Fatalf("the read never waited on the lock; it returned %v", err)
			default:
			}
			t.Fatal("the read never waited on the lock")
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "terminating connection") && !strings.Contains(err.Error(), "connection was lost") {
			t.Errorf("err = %v, want a lost connection", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the read hung after its connection was dropped")
	}
}

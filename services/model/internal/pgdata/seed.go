package pgdata

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/palmerops/penguins/pkg/penguins"
)

// migrations are applied in order, each once, recorded in
// schema_migrations. Append; never edit one that has shipped.
var migrations = []string{
	1: `CREATE TABLE penguins (
		id                integer PRIMARY KEY,
		species           text NOT NULL CHECK (species IN ('Adelie', 'Chinstrap', 'Gentoo')),
		island            text NOT NULL,
		bill_length_mm    double precision CHECK (bill_length_mm > 0),
		bill_depth_mm     double precision CHECK (bill_depth_mm > 0),
		flipper_length_mm double precision CHECK (flipper_length_mm > 0),
		body_mass_g       double precision CHECK (body_mass_g > 0),
		sex               text CHECK (sex IN ('female', 'male')),
		year              integer NOT NULL
	)`,
}

// SeedResult counts what a seed changed.
type SeedResult struct {
	Migrated int // migrations applied now
	Inserted int
	Updated  int
}

// Seed applies pending migrations and loads rows into the penguins table in
// one transaction: a row is inserted when new and updated only when it
// differs, so seeding twice changes nothing. Row i of rows gets id i+1.
func Seed(ctx context.Context, cfg Config, rows []penguins.Penguin) (SeedResult, error) {
	var res SeedResult
	conn, err := cfg.connect(ctx)
	if err != nil {
		return res, err
	}
	defer conn.Close(context.Background())
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		// One seeder at a time: the lock is held until the transaction ends.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7207)`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return err
		}
		var current int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
			return err
		}
		for v := current + 1; v < len(migrations); v++ {
			if _, err := tx.Exec(ctx, migrations[v]); err != nil {
				return fmt.Errorf("migration %d: %w", v, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, v); err != nil {
				return err
			}
			res.Migrated++
		}
		batch := &pgx.Batch{}
		for i, p := range rows {
			var sex *string
			if p.Sex.Valid() {
				s := p.Sex.String()
				sex = &s
			}
			// xmax = 0 tells an insert from an update; a row that is
			// already equal matches the WHERE of neither and returns nothing.
			batch.Queue(`INSERT INTO penguins AS p (id, species, island, bill_length_mm, bill_depth_mm, flipper_length_mm, body_mass_g, sex, year)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
				ON CONFLICT (id) DO UPDATE SET species = EXCLUDED.species, island = EXCLUDED.island,
					bill_length_mm = EXCLUDED.bill_length_mm, bill_depth_mm = EXCLUDED.bill_depth_mm,
					flipper_length_mm = EXCLUDED.flipper_length_mm, body_mass_g = EXCLUDED.body_mass_g,
					sex = EXCLUDED.sex, year = EXCLUDED.year
				WHERE (p.species, p.island, p.bill_length_mm, p.bill_depth_mm, p.flipper_length_mm, p.body_mass_g, p.sex, p.year)
					IS DISTINCT FROM (EXCLUDED.species, EXCLUDED.island, EXCLUDED.bill_length_mm, EXCLUDED.bill_depth_mm,
					EXCLUDED.flipper_length_mm, EXCLUDED.body_mass_g, EXCLUDED.sex, EXCLUDED.year)
				RETURNING xmax = 0`,
				i+1, p.Species.String(), p.Island, ptr(p.BillLengthMM.Float64, p.BillLengthMM.Valid),
				ptr(p.BillDepthMM.Float64, p.BillDepthMM.Valid), ptr(p.FlipperLengthMM.Float64, p.FlipperLengthMM.Valid),
				ptr(p.BodyMassG.Float64, p.BodyMassG.Valid), sex, p.Year)
		}
		br := tx.SendBatch(ctx, batch)
		for range rows {
			var inserted bool
			err := br.QueryRow().Scan(&inserted)
			switch {
			case err == pgx.ErrNoRows:
			case err != nil:
				br.Close()
				return err
			case inserted:
				res.Inserted++
			default:
				res.Updated++
			}
		}
		return br.Close()
	})
	if err != nil {
		return SeedResult{}, fmt.Errorf("seeding %s (nothing was changed): %s", cfg.Describe(), queryError(err))
	}
	return res, nil
}

func ptr(v float64, ok bool) *float64 {
	if !ok {
		return nil
	}
	return &v
}

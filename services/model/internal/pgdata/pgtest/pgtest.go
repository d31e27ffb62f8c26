// Package pgtest gives tests a real PostgreSQL database of their own. Set
// PENGUINS_TEST_DATABASE_URL to a connection string of a role that may
// create databases; .ci/run starts Debian's PostgreSQL on 127.0.0.1 and sets
// it. Without it the tests skip, except in CI (CI set), where they fail.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"
)

// New creates a fresh, empty database, dropped when the test ends, and
// returns its URL (without the password) and the password, which travel
// apart as in production.
func New(t testing.TB) (url, password string) {
	t.Helper()
	admin := os.Getenv("PENGUINS_TEST_DATABASE_URL")
	if admin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("PENGUINS_TEST_DATABASE_URL is not set; .ci/run starts PostgreSQL and sets it")
		}
		t.Skip("set PENGUINS_TEST_DATABASE_URL to run the PostgreSQL tests")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connecting to the test server: %v", err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	rand.Read(b[:])
	name := "penguins_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	cc, err := pgx.ParseConfig(admin)
	if err != nil {
		t.Fatal(err)
	}
	url = "postgres://" + cc.User + "@" + net.JoinHostPort(cc.Host, strconv.Itoa(int(cc.Port))) + "/" + name + "?sslmode=disable"
	return url, cc.Password
}

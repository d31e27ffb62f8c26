package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// asset is a file under static/, served from memory.
type asset struct {
	name   string // as in the source tree: style.css
	hashed string // with a hash of its content: style.0123456789ab.css
	etag   string
	body   []byte
}

// assets are the static files by both their names.
type assets map[string]*asset

// loadAssets reads the files of dir in fsys.
func loadAssets(fsys fs.FS, dir string) (assets, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("static files: %w", err)
	}
	out := assets{}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		body, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("static files: %w", err)
		}
		sum := sha256.Sum256(body)
		ext := path.Ext(e.Name())
		a := &asset{
			name: e.Name(), body: body,
			hashed: strings.TrimSuffix(e.Name(), ext) + "." + hex.EncodeToString(sum[:6]) + ext,
			etag:   `"` + hex.EncodeToString(sum[:16]) + `"`,
		}
		out[a.name], out[a.hashed] = a, a
	}
	return out, nil
}

// url is where the pages link to the file name: its hashed name.
func (as assets) url(name string) string {
	a, ok := as[name]
	if !ok {
		panic("web: no static file " + name) // a template names a file that does not exist
	}
	return "/static/" + a.hashed
}

// staticFile serves a static file. Under its hashed name (what the pages
// link to) it never changes, so browsers and caches keep it for a year
// without asking; under its plain name (old pages, people typing it) it
// is revalidated with its ETag. Either way If-None-Match gets a 304.
func (a *App) staticFile(c echo.Context) error {
	name := c.Param("name")
	f, ok := a.assets[name]
	if !ok {
		return echo.ErrNotFound
	}
	h := c.Response().Header()
	h.Set("ETag", f.etag)
	if name == f.hashed {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(c.Response(), c.Request(), f.name, time.Time{}, bytes.NewReader(f.body))
	return nil
}

package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/palmerops/penguins/pkg/modelapi"
)

// GET /aliases: the store's aliases and promotion history, read from the
// store on every request so that a promotion shows at once. Read-only: the
// promote and rollback commands change them.
func (s *Server) aliases(c echo.Context) error {
	sv := s.served.Load()
	if sv == nil {
		return errNotReady
	}
	out := modelapi.Aliases{Aliases: map[string]string{}, History: []modelapi.Promotion{}}
	if sv.store == nil {
		return c.JSON(http.StatusOK, out)
	}
	m, err := sv.store.Aliases(sv.artifact.Name)
	if err != nil {
		return err
	}
	h, err := sv.store.History(sv.artifact.Name)
	if err != nil {
		return err
	}
	out.Aliases = m
	for _, p := range h {
		out.History = append(out.History, modelapi.Promotion{
			Time: p.Time, Alias: p.Alias, From: p.From, To: p.To, Actor: p.Actor, Reason: p.Reason, Forced: p.Forced, Rollback: p.Rollback,
		})
	}
	return c.JSON(http.StatusOK, out)
}

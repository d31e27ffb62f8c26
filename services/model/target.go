package main

import (
	"errors"
	"fmt"

	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/services/model/internal/reload"
)

// resolveAlias returns the version an alias of the named model points to.
// Aliases in the store (issue 12, point 1) are not on this branch yet:
// when they are, this becomes massmodel.Store.Alias.
var resolveAlias = func(s massmodel.Store, name, alias string) (string, error) {
	return "", errors.New("model store aliases are not supported by this build")
}

// target is what an unpinned service serves from its store: the alias's
// target when MODEL_ALIAS is set, else the newest version.
func (c Config) target(s massmodel.Store) reload.Target {
	if c.Alias == "" {
		return reload.Newest(s, massmodel.Name)
	}
	return func() (string, error) {
		v, err := resolveAlias(s, massmodel.Name, c.Alias)
		if err != nil {
			return "", fmt.Errorf("alias %q: %w", c.Alias, err)
		}
		return v, nil
	}
}

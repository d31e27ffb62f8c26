package main

import (
	"fmt"

	"github.com/palmerops/penguins/pkg/massmodel"
	"github.com/palmerops/penguins/services/model/internal/reload"
)

// target is what an unpinned service serves from its store: the alias's
// target when MODEL_ALIAS is set, else the newest version.
func (c Config) target(s massmodel.Store) reload.Target {
	if c.Alias == "" {
		return reload.Newest(s, massmodel.Name)
	}
	return aliasTarget(s, c.Alias)
}

// aliasTarget is the target "the version alias points to in the store".
func aliasTarget(s massmodel.Store, alias string) reload.Target {
	return func() (string, error) {
		v, err := s.Alias(massmodel.Name, alias)
		if err != nil {
			return "", fmt.Errorf("alias %q: %w", alias, err)
		}
		return v, nil
	}
}

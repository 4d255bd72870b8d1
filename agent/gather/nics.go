package gather

import (
	"context"

	parcv1 "parc/proto/parc/v1"
)

// nicsGatherer fills the nics section from the Source.
func nicsGatherer(ctx context.Context, env *Env) (*parcv1.Inventory, error) {
	n, err := env.Source.NICs(ctx)
	if n == nil && err != nil {
		return nil, err
	}
	return &parcv1.Inventory{Nics: &parcv1.NICs{Items: n}}, err
}

package gather

import (
	"context"

	parcv1 "parc/proto/parc/v1"
)

// disksGatherer fills the disks section (with partitions) from the Source.
func disksGatherer(ctx context.Context, env *Env) (*parcv1.Inventory, error) {
	d, err := env.Source.Disks(ctx)
	if d == nil && err != nil {
		return nil, err
	}
	return &parcv1.Inventory{Disks: &parcv1.Disks{Items: d}}, err
}

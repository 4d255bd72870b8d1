//go:build !linux

package gather

import (
	"context"

	parcv1 "parc/proto/parc/v1"
)

// filesystemsGatherer fills the filesystems section from the Source
// (gopsutil) outside Linux.
func filesystemsGatherer(ctx context.Context, env *Env) (*parcv1.Inventory, error) {
	f, err := env.Source.Filesystems(ctx)
	if f == nil && err != nil {
		return nil, err
	}
	return &parcv1.Inventory{Filesystems: &parcv1.Filesystems{Items: f}}, err
}

package gather

import (
	"context"

	parcv1 "parc/proto/parc/v1"
)

// cpuGatherer fills the cpu section from the Source.
func cpuGatherer(ctx context.Context, env *Env) (*parcv1.Inventory, error) {
	c, err := env.Source.CPU(ctx)
	if c == nil {
		return nil, err
	}
	return &parcv1.Inventory{Cpu: c}, err
}

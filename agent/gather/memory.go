package gather

import (
	"context"

	parcv1 "parc/proto/parc/v1"
)

// memoryGatherer fills the memory total from the Source. DIMMs come from the
// dimms gatherer where SMBIOS is readable.
func memoryGatherer(ctx context.Context, env *Env) (*parcv1.Inventory, error) {
	m, err := env.Source.Memory(ctx)
	if m == nil {
		return nil, err
	}
	return &parcv1.Inventory{Memory: m}, err
}

package lifecycle_test

import (
	"errors"
	"testing"

	"parc/cmdb"
	"parc/cmdb/lifecycle"
)

// TestTransitionTable checks every from × to pair against the table.
func TestTransitionTable(t *testing.T) {
	allowed := map[[2]string]bool{
		{"plan", "acquire"}: true, {"plan", "retire"}: true,
		{"acquire", "deploy"}: true, {"acquire", "use"}: true, {"acquire", "retire"}: true,
		{"deploy", "use"}: true, {"deploy", "retire"}: true,
		{"use", "maintain"}: true, {"use", "retire"}: true,
		{"maintain", "use"}: true, {"maintain", "retire"}: true,
	}
	for _, from := range lifecycle.States {
		for _, to := range lifecycle.States {
			t.Run(from+"→"+to, func(t *testing.T) {
				err := lifecycle.CanTransition(from, to)
				if allowed[[2]string{from, to}] {
					if err != nil {
						t.Fatalf("want allowed, got %v", err)
					}
					return
				}
				if !errors.Is(err, cmdb.ErrForbidden) {
					t.Fatalf("want ErrForbidden, got %v", err)
				}
			})
		}
	}
	if err := lifecycle.CanTransition("", "maintain"); err != nil {
		t.Errorf("a CI without state counts as in use: %v", err)
	}
	if err := lifecycle.CanTransition("use", "lost"); !errors.Is(err, cmdb.ErrInvalid) {
		t.Errorf("unknown state: %v", err)
	}
}

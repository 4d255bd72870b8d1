package agentsvc

import (
	"testing"

	"parc/cmdb/store/teststore"
)

// TestMain stops the shared etcd of the etcd pass and removes its data.
func TestMain(m *testing.M) { teststore.Main(m) }

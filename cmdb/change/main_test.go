package change_test

import (
	"testing"

	"parc/cmdb/store/teststore"
)

func TestMain(m *testing.M) { teststore.Main(m) }

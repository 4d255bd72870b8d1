package etcdtest

import (
	"net/http"
	"testing"
)

func TestStart(t *testing.T) {
	for _, n := range []int{1, 3} {
		eps := Start(t, n)
		if len(eps) != n {
			t.Fatalf("%d endpoints, want %d", len(eps), n)
		}
		for _, ep := range eps {
			resp, err := http.Get(ep + "/health")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
	}
}

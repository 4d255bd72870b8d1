package licence

import "testing"

// TestAskedAnswersArePublished: a few names asked again and again are
// answered without the lock once asked often enough, though too few new
// names came to publish them.
func TestAskedAnswersArePublished(t *testing.T) {
	n, err := NewNormalizer()
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"libc6", "openssl", "Mozilla Firefox 120.0 (x64 en-US)"}
	for range freshMin {
		for _, name := range names {
			n.Title(name, "Publisher")
		}
	}
	for _, name := range names {
		if _, ok := (*n.cache.Load())[[2]string{name, "Publisher"}]; !ok {
			t.Errorf("%q is still answered under the lock after %d questions", name, freshMin)
		}
	}
	if len(n.fresh) != 0 || n.freshHits != 0 {
		t.Errorf("fresh answers left: %d, hits %d", len(n.fresh), n.freshHits)
	}
}

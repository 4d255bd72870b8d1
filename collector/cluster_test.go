package collector

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"parc/cmdb/store"
	"parc/cmdb/store/teststore"
)

func TestMain(m *testing.M) { teststore.Main(m) }

func TestValidateStore(t *testing.T) {
	tests := []struct {
		name, spec string
		ok         bool
		prefix     string
	}{
		{"badger", "badger:/tmp/x", true, ""},
		{"badger without dir", "badger:", false, ""},
		{"etcd three members", "etcd://h1:2379,h2:2379,h3:2379", true, DefaultEtcdPrefix},
		{"etcd with TLS files", "etcd://h1:2379?ca=/c.pem&cert=/a.pem&key=/a.key", true, DefaultEtcdPrefix},
		{"etcd explicit prefix", "etcd://h1:2379?prefix=/other/", true, "/other/"},
		{"etcd explicit empty prefix", "etcd://h1:2379?prefix=", true, ""},
		{"etcds", "etcds://h1:2379", true, DefaultEtcdPrefix},
		{"etcd cert without key", "etcd://h1:2379?cert=/a.pem", false, ""},
		{"etcd unknown option", "etcd://h1:2379?user=x", false, ""},
		{"etcd no hosts", "etcd://", false, ""},
		{"unknown scheme", "consul://h1", false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := validateStore(tc.spec)
			if (err == nil) != tc.ok {
				t.Fatalf("validateStore(%q) = %v, want ok=%v", tc.spec, err, tc.ok)
			}
			if tc.ok && isEtcd(tc.spec) {
				cfg, _ := etcdConfig(tc.spec)
				if cfg.Prefix != tc.prefix {
					t.Errorf("prefix = %q, want %q", cfg.Prefix, tc.prefix)
				}
			}
		})
	}
}

// TestSingletonJobFailover runs one singleton job on two runners sharing a
// store (two collectors): exactly one runs it, with a fenced context, and
// when the leader stops the other takes over.
func TestSingletonJobFailover(t *testing.T) {
	st := teststore.Open(t)
	var running, maxRunning atomic.Int32
	started := make(chan string, 4)
	job := func(name string) Job {
		return Job{Name: "test-singleton", Singleton: true, Run: func(ctx context.Context) error {
			if _, ok := st.(store.Locker); ok && store.FenceOf(ctx) == nil {
				t.Error("singleton job context is not fenced")
			}
			n := running.Add(1)
			defer running.Add(-1)
			for {
				if m := maxRunning.Load(); n > m && !maxRunning.CompareAndSwap(m, n) {
					continue
				}
				break
			}
			if _, err := st.Update(ctx, func(tx store.Txn) error { return tx.Put([]byte("job/holder"), []byte(name)) }); err != nil {
				return err
			}
			started <- name
			<-ctx.Done()
			return ctx.Err()
		}}
	}
	ctxA, stopA := context.WithCancel(context.Background())
	ctxB, stopB := context.WithCancel(context.Background())
	defer stopB()
	var wg sync.WaitGroup
	for _, r := range []struct {
		ctx  context.Context
		name string
	}{{ctxA, "a"}, {ctxB, "b"}} {
		wg.Add(1)
		go func() { defer wg.Done(); runJob(r.ctx, st, job(r.name), testLogger(t), nil) }()
	}
	first := <-started
	// Stop the leader; the other runner must take over.
	if first == "a" {
		stopA()
	} else {
		stopB()
	}
	select {
	case second := <-started:
		if second == first {
			t.Fatalf("runner %s ran again after being stopped", first)
		}
	case <-time.After(LeaseTTL + 5*time.Second):
		t.Fatal("no runner took the job over")
	}
	stopA()
	stopB()
	wg.Wait()
	if m := maxRunning.Load(); m != 1 {
		t.Fatalf("%d runners ran the singleton job at once", m)
	}
}

// TestFencedJobCannotWriteAfterLoss: a job that keeps writing after its
// leadership ended gets store.ErrFenced and writes nothing.
func TestFencedJobCannotWriteAfterLoss(t *testing.T) {
	st := teststore.Open(t)
	locker, ok := st.(store.Locker)
	if !ok {
		t.Skip("store elects no leaders")
	}
	ctx := context.Background()
	lead, err := locker.Campaign(ctx, "job/x", LeaseTTL)
	if err != nil {
		t.Fatal(err)
	}
	fctx := store.WithFence(ctx, lead)
	if err := lead.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = st.Update(fctx, func(tx store.Txn) error { return tx.Put([]byte("job/late"), []byte("x")) })
	if !errors.Is(err, store.ErrFenced) {
		t.Fatalf("late write = %v, want ErrFenced", err)
	}
	if _, err := st.Get(ctx, []byte("job/late")); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("late write landed: %v", err)
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

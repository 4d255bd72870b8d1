package collector

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"parc/cmdb/store"
	"parc/cmdb/store/etcdstore"
)

// DefaultEtcdPrefix is the key namespace of a collector cluster in etcd when
// the --store URL names none, so that one etcd can serve other users too.
const DefaultEtcdPrefix = "/parc/"

// Cluster mode: collectors started with the same --store etcd://… share
// everything through etcd and keep no state of their own (their data
// directory holds only the admin token written on the very first start
// and a copy of the cluster CA). The CA, API users and tokens, enrolled
// agents and revocations are read from the store on every use, so a change
// made through one collector holds on all of them at the next request;
// modules that keep derived state follow the store's watch. Singleton jobs
// run on the leader elected through etcd (jobs.go).

func isEtcd(spec string) bool {
	return strings.HasPrefix(spec, "etcd://") || strings.HasPrefix(spec, "etcds://")
}

// validateStore checks a --store value without connecting.
func validateStore(spec string) error {
	switch {
	case strings.HasPrefix(spec, "badger:"):
		if strings.TrimPrefix(spec, "badger:") == "" {
			return fmt.Errorf("--store %q: want badger:DIR", spec)
		}
		return nil
	case isEtcd(spec):
		if _, err := etcdConfig(spec); err != nil {
			return fmt.Errorf("--store: %w", err)
		}
		return nil
	}
	return fmt.Errorf("--store %q: want badger:DIR or etcd://host:port[,host:port...][?prefix=P&ca=FILE&cert=FILE&key=FILE]", spec)
}

// etcdConfig parses an etcd --store URL, defaulting the key prefix.
func etcdConfig(spec string) (etcdstore.Config, error) {
	cfg, err := etcdstore.ParseURL(spec)
	if err != nil {
		return cfg, err
	}
	_, query, _ := strings.Cut(spec, "?")
	if !strings.Contains("&"+query, "&prefix=") {
		cfg.Prefix = DefaultEtcdPrefix
	}
	return cfg, nil
}

func openEtcd(spec string, log *slog.Logger) (store.Store, error) {
	cfg, err := etcdConfig(spec)
	if err != nil {
		return nil, err
	}
	cfg.Logger = log
	return etcdstore.Open(context.Background(), cfg)
}

package etcdstore

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"
)

// Config says how to reach the cluster.
type Config struct {
	// Endpoints are host:port (or URLs) of the members.
	Endpoints []string
	// Prefix is prepended to every key: the store's namespace.
	Prefix string
	// TLS, when set, is used as is. Otherwise CertFile, KeyFile and CAFile,
	// when any is set, build the TLS configuration.
	TLS                       *tls.Config
	CertFile, KeyFile, CAFile string
	// DialTimeout bounds connecting in Open (default 5 s).
	DialTimeout time.Duration
	// Logger receives the store's warnings. Nil discards them.
	Logger *slog.Logger
	// MaxRetries bounds how often Update runs fn on conflicts (default 50).
	MaxRetries int
}

// ParseURL parses "etcd://h1:2379,h2:2379?prefix=/parc/&ca=F&cert=F&key=F&timeout=5s".
// The scheme "etcds" asks for TLS with the system roots when no files are
// given.
func ParseURL(s string) (Config, error) {
	var cfg Config
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || (scheme != "etcd" && scheme != "etcds") {
		return cfg, fmt.Errorf("etcdstore: %q: want etcd://host:port[,host:port...][?options]", s)
	}
	hosts, query, _ := strings.Cut(rest, "?")
	hosts = strings.TrimSuffix(hosts, "/")
	for _, h := range strings.Split(hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			cfg.Endpoints = append(cfg.Endpoints, h)
		}
	}
	if len(cfg.Endpoints) == 0 {
		return cfg, fmt.Errorf("etcdstore: %q: no endpoints", s)
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return cfg, fmt.Errorf("etcdstore: %q: %w", s, err)
	}
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch k {
		case "prefix":
			cfg.Prefix = v
		case "ca":
			cfg.CAFile = v
		case "cert":
			cfg.CertFile = v
		case "key":
			cfg.KeyFile = v
		case "timeout":
			if cfg.DialTimeout, err = time.ParseDuration(v); err != nil {
				return cfg, fmt.Errorf("etcdstore: %q: timeout: %w", s, err)
			}
		default:
			return cfg, fmt.Errorf("etcdstore: %q: unknown option %q (want prefix, ca, cert, key, timeout)", s, k)
		}
	}
	if (cfg.CertFile == "") != (cfg.KeyFile == "") {
		return cfg, fmt.Errorf("etcdstore: %q: cert and key go together", s)
	}
	if scheme == "etcds" && cfg.CAFile == "" && cfg.CertFile == "" {
		cfg.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return cfg, nil
}

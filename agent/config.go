package agent

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"parc/agent/gather"
)

// Version is the agent version sent in every report.
var Version = "0.1.0-dev"

// Config configures Run. Start from DefaultConfig, apply a file with
// ApplyFile, then flags, then call Validate.
type Config struct {
	// Collector is the collector's agent port, HOST:PORT.
	Collector string
	// StateDir holds the agent id and the spool.
	StateDir string
	// Once gathers, sends one FULL report, waits for its Ack and returns.
	Once bool
	// Root is the filesystem root to inventory ("/").
	Root string
	// FullInterval is how often a FULL report is sent regardless of change.
	FullInterval time.Duration
	// HeartbeatInterval is how often the machine is gathered again; the
	// report is a DELTA if something changed and a HEARTBEAT otherwise.
	HeartbeatInterval time.Duration
	// Jitter spreads every interval by ±Jitter (a fraction, 0 to 0.5).
	Jitter float64
	// Timeout bounds a --once delivery.
	Timeout time.Duration
	// SpoolMaxBytes caps the on-disk spool; the oldest reports are dropped
	// first when it is full.
	SpoolMaxBytes int64
	// FSThresholdPercent raises a FILESYSTEM_FULL event above this usage.
	FSThresholdPercent float64
	// SMART enables smartctl health checks when smartctl is installed.
	SMART bool

	// Credentials secure the collector connection; nil is plaintext. This is
	// the transport seam mTLS will plug into.
	Credentials credentials.TransportCredentials
	// DialOptions are extra gRPC dial options (tests: a bufconn dialer).
	DialOptions []grpc.DialOption
	// Logger receives the agent's logs; nil discards them.
	Logger *slog.Logger
	// Gatherers replaces gather.Default() (tests).
	Gatherers map[string]gather.Gatherer
	// Source and Runner replace the live machine's (tests).
	Source gather.Source
	Runner gather.Runner
	// RetryMin and RetryMax bound the jittered exponential reconnect
	// backoff (defaults 500ms and 5m).
	RetryMin, RetryMax time.Duration
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Root:               "/",
		FullInterval:       24 * time.Hour,
		HeartbeatInterval:  15 * time.Minute,
		Jitter:             0.1,
		Timeout:            15 * time.Second,
		SpoolMaxBytes:      64 << 20,
		FSThresholdPercent: 90,
		SMART:              true,
		RetryMin:           500 * time.Millisecond,
		RetryMax:           5 * time.Minute,
	}
}

// ApplyFile reads a config file of key = value lines ('#' starts a comment)
// into c. Keys: collector, state_dir, root, full_interval,
// heartbeat_interval (Go durations: 15m, 24h), jitter (0.1),
// timeout, spool_max_bytes (bytes, or with KiB/MiB/GiB), fs_threshold_percent,
// smart (true/false).
func (c *Config) ApplyFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	return c.apply(b, path)
}

func (c *Config) apply(b []byte, path string) error {
	var errs []error
	sc := bufio.NewScanner(bytes.NewReader(b))
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			errs = append(errs, fmt.Errorf("%s:%d: want key = value", path, n))
			continue
		}
		if err := c.Set(strings.TrimSpace(k), strings.Trim(strings.TrimSpace(v), `"`)); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", path, n, err))
		}
	}
	return errors.Join(errs...)
}

// Set sets one setting by its config file key.
func (c *Config) Set(key, value string) error {
	var err error
	switch key {
	case "collector":
		c.Collector = value
	case "state_dir":
		c.StateDir = value
	case "root":
		c.Root = value
	case "full_interval":
		c.FullInterval, err = time.ParseDuration(value)
	case "heartbeat_interval":
		c.HeartbeatInterval, err = time.ParseDuration(value)
	case "timeout":
		c.Timeout, err = time.ParseDuration(value)
	case "jitter":
		c.Jitter, err = strconv.ParseFloat(value, 64)
	case "spool_max_bytes":
		c.SpoolMaxBytes, err = ParseBytes(value)
	case "fs_threshold_percent":
		c.FSThresholdPercent, err = strconv.ParseFloat(value, 64)
	case "smart":
		c.SMART, err = strconv.ParseBool(value)
	default:
		return fmt.Errorf("unknown key %q", key)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

// ParseBytes parses "1048576", "512KiB", "64MiB" or "1GiB".
func ParseBytes(s string) (int64, error) {
	mult := int64(1)
	for suf, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if strings.HasSuffix(s, suf) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, suf)), m
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n * mult, err
}

// Validate checks c and says what to fix.
func (c *Config) Validate() error {
	var errs []error
	if c.Collector == "" {
		errs = append(errs, errors.New("collector address is required (--collector HOST:PORT)"))
	}
	if c.StateDir == "" {
		errs = append(errs, errors.New("state directory is required (--state-dir DIR)"))
	}
	if c.FullInterval <= 0 || c.HeartbeatInterval <= 0 {
		errs = append(errs, errors.New("full_interval and heartbeat_interval must be positive"))
	}
	if c.Jitter < 0 || c.Jitter > 0.5 {
		errs = append(errs, fmt.Errorf("jitter %v must be between 0 and 0.5", c.Jitter))
	}
	if c.RetryMin <= 0 || c.RetryMax < c.RetryMin {
		errs = append(errs, errors.New("reconnect backoff bounds must be positive and ordered"))
	}
	if c.Timeout <= 0 {
		errs = append(errs, errors.New("timeout must be positive"))
	}
	if c.SpoolMaxBytes < 64<<10 {
		errs = append(errs, fmt.Errorf("spool_max_bytes %d is below the 64KiB minimum", c.SpoolMaxBytes))
	}
	if c.FSThresholdPercent <= 0 || c.FSThresholdPercent > 100 {
		errs = append(errs, fmt.Errorf("fs_threshold_percent %v must be in (0, 100]", c.FSThresholdPercent))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
	}
	return nil
}

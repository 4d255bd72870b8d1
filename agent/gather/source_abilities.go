package gather

import (
	"context"
	"fmt"

	parcv1 "parc/proto/parc/v1"
)

// ServiceSource is an optional ability of a Source: listing the services of
// the operating system's service manager (the Windows SCM). On Linux the
// services gatherer asks systemd instead.
type ServiceSource interface {
	Services(ctx context.Context) ([]*parcv1.Service, error)
}

// SocketSource is an optional ability of a Source: listening sockets and
// established TCP connections with process names, through gopsutil. On
// Linux the sockets gatherer parses /proc instead.
type SocketSource interface {
	Sockets(ctx context.Context) (*parcv1.Sockets, error)
}

// sourceServicesGatherer fills the services section from a ServiceSource.
func sourceServicesGatherer(ctx context.Context, env *Env) (*parcv1.Inventory, error) {
	s, ok := env.Source.(ServiceSource)
	if !ok {
		return nil, ErrNotPresent
	}
	items, err := s.Services(ctx)
	if items == nil && err != nil {
		return nil, err
	}
	return &parcv1.Inventory{Services: &parcv1.Services{Items: items}}, err
}

// sourceSocketsGatherer fills the sockets section from a SocketSource.
func sourceSocketsGatherer(ctx context.Context, env *Env) (*parcv1.Inventory, error) {
	s, ok := env.Source.(SocketSource)
	if !ok {
		return nil, ErrNotPresent
	}
	socks, err := s.Sockets(ctx)
	if socks == nil && err != nil {
		return nil, err
	}
	return &parcv1.Inventory{Sockets: socks}, err
}

// normalizeConnections reduces established connections to what dependency
// mapping needs and what stays stable between runs: an inbound connection
// (to a listening TCP port) keeps the local port and drops the peer's
// ephemeral port; an outbound one keeps the remote port and drops the local
// ephemeral one; duplicates collapse and the pid is left out.
func normalizeConnections(listening, conns []*parcv1.Socket) []*parcv1.Socket {
	listen := map[uint32]bool{}
	for _, l := range listening {
		if l.Protocol == "tcp" {
			listen[l.LocalPort] = true
		}
	}
	seen := map[string]bool{}
	var out []*parcv1.Socket
	for _, c := range conns {
		n := &parcv1.Socket{Protocol: c.Protocol, LocalIp: c.LocalIp, RemoteIp: c.RemoteIp, Process: c.Process}
		if listen[c.LocalPort] {
			n.LocalPort = c.LocalPort
		} else {
			n.RemotePort = c.RemotePort
		}
		k := fmt.Sprint(n.Protocol, "|", n.LocalIp, "|", n.LocalPort, "|", n.RemoteIp, "|", n.RemotePort, "|", n.Process)
		if !seen[k] {
			seen[k] = true
			out = append(out, n)
		}
	}
	return out
}

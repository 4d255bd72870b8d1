package gather

import (
	"context"
	"errors"
	"testing"

	parcv1 "parc/proto/parc/v1"
)

// abilitySource is a fakeSource that also has the optional abilities.
type abilitySource struct{ fakeSource }

func (abilitySource) Services(context.Context) ([]*parcv1.Service, error) {
	return []*parcv1.Service{{Name: "Spooler", State: "failed", SubState: "stopped"}}, nil
}

func (abilitySource) Sockets(context.Context) (*parcv1.Sockets, error) {
	l := []*parcv1.Socket{{Protocol: "tcp", LocalIp: "0.0.0.0", LocalPort: 443, Process: "nginx.exe", Pid: 10}}
	c := []*parcv1.Socket{
		{Protocol: "tcp", LocalIp: "10.0.0.1", LocalPort: 443, RemoteIp: "10.0.0.9", RemotePort: 50001, Process: "nginx.exe"},
		{Protocol: "tcp", LocalIp: "10.0.0.1", LocalPort: 443, RemoteIp: "10.0.0.9", RemotePort: 50002, Process: "nginx.exe"},
		{Protocol: "tcp", LocalIp: "10.0.0.1", LocalPort: 61000, RemoteIp: "10.0.0.7", RemotePort: 1433, Process: "app.exe"},
	}
	return &parcv1.Sockets{Listening: l, Connections: normalizeConnections(l, c)}, nil
}

func TestOptionalSourceAbilities(t *testing.T) {
	ctx := context.Background()
	if _, err := sourceServicesGatherer(ctx, &Env{Source: fakeSource{}}); !errors.Is(err, ErrNotPresent) {
		t.Errorf("a Source without services: %v", err)
	}
	inv, err := sourceServicesGatherer(ctx, &Env{Source: abilitySource{}})
	if err != nil || len(inv.Services.Items) != 1 {
		t.Fatalf("services = %v, %v", inv, err)
	}
	inv, err = sourceSocketsGatherer(ctx, &Env{Source: abilitySource{}})
	if err != nil {
		t.Fatal(err)
	}
	c := inv.Sockets.Connections
	if len(c) != 2 || c[0].LocalPort != 443 || c[0].RemotePort != 0 || c[1].LocalPort != 0 || c[1].RemotePort != 1433 {
		t.Errorf("connections = %v", c)
	}
}

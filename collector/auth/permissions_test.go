package auth_test

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"parc/collector"
	"parc/collector/api"
	"parc/collector/auth"
)

// wiredRoutes starts the real collector (as parc-collector does) on
// loopback port 0 and returns every route of its fully wired API.
func wiredRoutes(t *testing.T) []api.Route {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var routes []api.Route
	errc := make(chan error, 1)
	go func() {
		errc <- collector.Run(ctx, collector.Config{
			DataDir: t.TempDir(), AgentAddr: "127.0.0.1:0", APIAddr: "127.0.0.1:0",
			Routes: func(rs []api.Route) { routes = rs },
			Ready:  func(string, string) { cancel() },
		})
	}()
	if err := <-errc; err != nil && ctx.Err() == nil {
		t.Fatalf("collector: %v", err)
	}
	if len(routes) == 0 {
		t.Fatal("the collector reported no API routes")
	}
	return routes
}

// TestEveryRouteHasAPermission walks every route of the wired API: a route
// without an entry in auth.Permissions fails here (and is refused to
// everyone at run time).
func TestEveryRouteHasAPermission(t *testing.T) {
	routes := wiredRoutes(t)
	seen := map[string]bool{}
	for _, rt := range routes {
		seen[rt.Name] = true
		t.Run(rt.Name, func(t *testing.T) {
			if _, ok := auth.Permissions[rt.Name]; !ok {
				t.Errorf("%s %s (%s) has no entry in auth.Permissions (collector/auth/permissions.go)", rt.Method, rt.Path, rt.Name)
			}
			if rt.Method != "GET" {
				for _, r := range auth.Permissions[rt.Name] {
					if r == auth.RoleViewer {
						t.Errorf("%s %s lets viewers mutate", rt.Method, rt.Name)
					}
				}
			}
		})
	}
	for _, rt := range routes {
		if rt.Method != "GET" && strings.HasPrefix(rt.Path, "/api/v1/audit") {
			t.Errorf("%s %s: no API may alter or delete audit records", rt.Method, rt.Path)
		}
	}
	var stale []string
	for name := range auth.Permissions {
		if !seen[name] {
			stale = append(stale, name)
		}
	}
	sort.Strings(stale)
	for _, name := range stale {
		t.Errorf("auth.Permissions has %q, which no route declares", name)
	}
}

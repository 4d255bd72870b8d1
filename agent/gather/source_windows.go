package gather

import (
	"context"
	"errors"
	"fmt"

	"github.com/shirou/gopsutil/v4/winservices"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"

	parcv1 "parc/proto/parc/v1"
)

// Services lists the services of the Windows service control manager.
// State follows systemd's words so health rules read alike: "active" when
// running, "failed" when an automatic service stopped with an error,
// "inactive" otherwise; SubState is the SCM state.
func (s *realSource) Services(ctx context.Context) ([]*parcv1.Service, error) {
	list, err := winservices.ListServices()
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	var out []*parcv1.Service
	var errs []error
	for _, l := range list {
		srv, err := winservices.NewService(l.Name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		st, err := srv.QueryStatusWithContext(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", l.Name, err))
			continue
		}
		cfg, _ := srv.QueryServiceConfigWithContext(ctx)
		item := &parcv1.Service{Name: l.Name, Description: cfg.DisplayName, SubState: scmState(st.State), State: "inactive"}
		switch {
		case st.State == svc.Running:
			item.State = "active"
		case st.State == svc.Stopped && st.Win32ExitCode != 0 && cfg.StartType == mgr.StartAutomatic:
			item.State = "failed"
		}
		out = append(out, item)
	}
	if len(errs) > 5 {
		errs = append(errs[:5], fmt.Errorf("and %d more", len(errs)-5))
	}
	return out, errors.Join(errs...)
}

func scmState(s svc.State) string {
	switch s {
	case svc.Stopped:
		return "stopped"
	case svc.StartPending:
		return "start_pending"
	case svc.StopPending:
		return "stop_pending"
	case svc.Running:
		return "running"
	case svc.ContinuePending:
		return "continue_pending"
	case svc.PausePending:
		return "pause_pending"
	case svc.Paused:
		return "paused"
	}
	return "unknown"
}

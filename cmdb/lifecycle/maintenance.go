package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"parc/cmdb"
	"parc/cmdb/store"
)

// PrefixMaintenance holds maintenance records: lc/mt/<ci>/<start>.
const PrefixMaintenance = "lc/mt/"

// Maintenance kinds.
const (
	Preventive = "preventive"
	Reactive   = "reactive"
)

// MaintenanceInput describes maintenance work being started.
type MaintenanceInput struct {
	// Kind is preventive (scheduled) or reactive (answering an incident).
	Kind string `json:"kind"`
	// Incident is the incident number a reactive maintenance answers.
	Incident    string `json:"incident,omitempty"`
	Description string `json:"description,omitempty"`
	// Scheduled is the planned date of preventive work (YYYY-MM-DD).
	Scheduled string `json:"scheduled,omitempty"`
}

// Maintenance is one maintenance of a CI.
type Maintenance struct {
	CI          string    `cbor:"1,keyasint" json:"ci"`
	Kind        string    `cbor:"2,keyasint" json:"kind"`
	Incident    string    `cbor:"3,keyasint,omitempty" json:"incident,omitempty"`
	Description string    `cbor:"4,keyasint,omitempty" json:"description,omitempty"`
	Scheduled   string    `cbor:"5,keyasint,omitempty" json:"scheduled,omitempty"`
	Started     time.Time `cbor:"6,keyasint" json:"started"`
	Ended       time.Time `cbor:"7,keyasint,omitempty" json:"ended,omitzero"`
	StartedBy   string    `cbor:"8,keyasint" json:"started_by"`
	EndedBy     string    `cbor:"9,keyasint,omitempty" json:"ended_by,omitempty"`
}

func (s *Service) checkMaintenance(ctx context.Context, m *MaintenanceInput) error {
	if m == nil {
		return fmt.Errorf("maintenance needs a kind (preventive or reactive): %w", cmdb.ErrInvalid)
	}
	m.Kind = strings.ToLower(strings.TrimSpace(m.Kind))
	m.Incident = strings.TrimSpace(m.Incident)
	switch m.Kind {
	case Preventive:
		if m.Scheduled != "" {
			if _, err := time.Parse(DateLayout, m.Scheduled); err != nil {
				return fmt.Errorf("scheduled %q: want YYYY-MM-DD: %w", m.Scheduled, cmdb.ErrInvalid)
			}
		}
	case Reactive:
		if m.Incident == "" {
			return fmt.Errorf("reactive maintenance needs the incident it answers: %w", cmdb.ErrInvalid)
		}
		if err := s.cfg.IncidentExists(ctx, m.Incident); err != nil {
			if errors.Is(err, cmdb.ErrNotFound) {
				return fmt.Errorf("incident %s: %w", m.Incident, cmdb.ErrInvalid)
			}
			return err
		}
	default:
		return fmt.Errorf("maintenance kind %q: want preventive or reactive: %w", m.Kind, cmdb.ErrInvalid)
	}
	if len(m.Description) > 2000 {
		return fmt.Errorf("description longer than 2000 characters: %w", cmdb.ErrInvalid)
	}
	return nil
}

func maintenanceKey(ci string, started time.Time) []byte {
	return []byte(fmt.Sprintf("%s%s/%016x", PrefixMaintenance, ci, started.UnixNano()))
}

func startMaintenance(ctx context.Context, tx *cmdb.Tx, ci string, in *MaintenanceInput) error {
	m := Maintenance{CI: ci, Kind: in.Kind, Incident: in.Incident, Description: in.Description,
		Scheduled: in.Scheduled, Started: tx.Now(), StartedBy: tx.Actor()}
	v, err := cmdb.Encode(m)
	if err != nil {
		return err
	}
	return tx.Store().Put(maintenanceKey(ci, m.Started), v)
}

// endMaintenance closes the CI's open maintenance records.
func endMaintenance(ctx context.Context, tx *cmdb.Tx, ci string) error {
	kvs, err := tx.Store().Scan(ctx, store.Range{Prefix: []byte(PrefixMaintenance + ci + "/"), Reverse: true, Limit: 16})
	if err != nil {
		return err
	}
	for _, kv := range kvs {
		var m Maintenance
		if err := cmdb.Decode(kv.Value, &m); err != nil {
			return err
		}
		if !m.Ended.IsZero() {
			continue
		}
		m.Ended, m.EndedBy = tx.Now(), tx.Actor()
		v, err := cmdb.Encode(m)
		if err != nil {
			return err
		}
		if err := tx.Store().Put(kv.Key, v); err != nil {
			return err
		}
	}
	return nil
}

// MaintenanceOf returns a CI's maintenance records, oldest first.
func (s *Service) MaintenanceOf(ctx context.Context, ref string) ([]Maintenance, error) {
	id, err := s.resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	kvs, err := s.st.Scan(ctx, store.Range{Prefix: []byte(PrefixMaintenance + id + "/")})
	if err != nil {
		return nil, err
	}
	out := make([]Maintenance, 0, len(kvs))
	for _, kv := range kvs {
		var m Maintenance
		if err := cmdb.Decode(kv.Value, &m); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

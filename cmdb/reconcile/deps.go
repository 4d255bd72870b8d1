package reconcile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"parc/cmdb"
	"parc/cmdb/audit"
	"parc/cmdb/store"
)

// Dependency mapping keys, under the engine's own prefixes:
//
//	lsn/<proto>/<ip>/<port>   → Listener: who listens on ip:port
//	sk/<host>                 → HostSockets: a host's listeners and pending connections
//	dep/<client>/<service>    → (empty) index of discovered depends_on, for ageing
const (
	PrefixListener    = "lsn/"
	PrefixHostSockets = "sk/"
	PrefixDependency  = "dep/"
)

// DefaultDependencyMaxAge is how long a depends_on relationship lives
// without being observed.
const DefaultDependencyMaxAge = 7 * 24 * time.Hour

// DefaultSightingEvery is how often a depends_on relationship observed
// again and again is rewritten (Config.SightingEvery). Its observation
// count and last sighting lag by at most that while the connection is
// observed: the sightings between are counted in the client's sockets
// record, and written when the interval has passed or when a sockets
// report no longer shows the connection. Ageing works in days.
const DefaultSightingEvery = time.Hour

// Listener is one listening socket in the listener index.
type Listener struct {
	Host     string `cbor:"1,keyasint" json:"host"`
	HostName string `cbor:"2,keyasint" json:"host_name"`
	Process  string `cbor:"3,keyasint,omitempty" json:"process,omitempty"`
}

// Endpoint is a remote address a host was seen connected to.
type Endpoint struct {
	Proto   string `cbor:"1,keyasint"`
	IP      string `cbor:"2,keyasint"`
	Port    uint32 `cbor:"3,keyasint"`
	Process string `cbor:"4,keyasint,omitempty"`
}

// HostSockets is what the engine remembers of a host's sockets: the
// listeners it wants in the index (Want) and has written (Written), the
// connections of the last sockets section not yet turned into
// relationships (Pending), and the host's depends_on relationships
// written less than SightingEvery ago with their sightings since (Seen,
// by service CI id). Work left over when a report's write budget runs
// out continues on the host's next report of any kind.
type HostSockets struct {
	Want    map[string]string   `cbor:"1,keyasint,omitempty"` // listener key → process
	Written map[string]string   `cbor:"2,keyasint,omitempty"`
	Pending []Endpoint          `cbor:"3,keyasint,omitempty"`
	Seen    map[string]Sighting `cbor:"4,keyasint,omitempty"`
}

// Sighting is what a host's sockets record keeps of one of its depends_on
// relationships between writes.
type Sighting struct {
	Process string    `cbor:"1,keyasint,omitempty"` // the server process the service was written with
	Written time.Time `cbor:"2,keyasint"`           // when the relationship was last written
	Count   int64     `cbor:"3,keyasint,omitempty"` // sightings since, not written yet
	Last    time.Time `cbor:"4,keyasint,omitempty"` // the last of them
}

func listenerKey(proto, ip string, port uint32) string {
	return PrefixListener + proto + "/" + ip + "/" + strconv.FormatUint(uint64(port), 10)
}

func normProto(p string) string {
	p = strings.ToLower(strings.TrimSpace(p))
	switch p {
	case "tcp6", "tcp4", "":
		return "tcp"
	case "udp6", "udp4":
		return "udp"
	}
	return p
}

func isWildcard(ip string) bool {
	return ip == "" || ip == "*" || ip == "0.0.0.0" || ip == "::" || ip == "[::]"
}

// remoteIP normalizes an address; "" when it cannot reach another host.
func remoteIP(ip string) string {
	p := net.ParseIP(strings.Trim(ip, "[]"))
	if p == nil || p.IsLoopback() || p.IsUnspecified() || p.IsLinkLocalUnicast() {
		return ""
	}
	if v4 := p.To4(); v4 != nil {
		return v4.String()
	}
	return p.String()
}

// hostIPs returns the addresses a wildcard listener of the host answers on.
func hostIPs(host *cmdb.CI, r *Report) []string {
	var ips []string
	if r.Has(SecNICs) {
		for _, n := range r.Inventory.NICs {
			for _, a := range n.Addresses {
				if i := strings.IndexByte(a, '/'); i >= 0 {
					a = a[:i]
				}
				if ip := remoteIP(a); ip != "" {
					ips = append(ips, ip)
				}
			}
		}
	} else {
		ips = append(ips, host.Identifiers[IDIP]...)
	}
	sort.Strings(ips)
	return slices.Compact(ips)
}

// applySockets keeps the listener index and the depends_on relationships
// in step with the host's sockets, within the report's write budget. It
// reports whether the host's sockets are settled: nothing left for a later
// report (which then need not look unless it carries sockets).
func (e *Engine) applySockets(ctx context.Context, tx *cmdb.Tx, host *cmdb.CI, r *Report, res *Result) (settled bool, err error) {
	key := []byte(PrefixHostSockets + host.ID)
	var rec HostSockets
	raw, err := tx.Store().Get(ctx, key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if !r.Has(SecSockets) {
			return true, nil
		}
	case err != nil:
		return false, err
	default:
		if err := cmdb.Decode(raw, &rec); err != nil {
			return false, err
		}
	}
	if r.Has(SecSockets) {
		rec.Want = map[string]string{}
		ips := hostIPs(host, r)
		for _, s := range r.Inventory.Listening {
			proto := normProto(s.Protocol)
			if isWildcard(s.LocalIP) {
				for _, ip := range ips {
					rec.Want[listenerKey(proto, ip, s.LocalPort)] = s.Process
				}
			} else if ip := remoteIP(s.LocalIP); ip != "" {
				rec.Want[listenerKey(proto, ip, s.LocalPort)] = s.Process
			}
		}
		seen := map[Endpoint]bool{}
		rec.Pending = rec.Pending[:0]
		for _, c := range r.Inventory.Connections {
			ip := remoteIP(c.RemoteIP)
			if ip == "" || c.RemotePort == 0 {
				continue
			}
			ep := Endpoint{Proto: normProto(c.Protocol), IP: ip, Port: c.RemotePort, Process: c.Process}
			if !seen[ep] {
				seen[ep] = true
				rec.Pending = append(rec.Pending, ep)
			}
		}
	}
	// Reserve: this record, the agent record and a margin.
	short := false // out of budget: work is left
	room := func(cost int) bool {
		ok := writes(tx)+cost+2 <= e.cfg.WriteBudget
		short = short || !ok
		return ok
	}
	if rec.Written == nil {
		rec.Written = map[string]string{}
	}
	for _, k := range slices.Sorted(maps.Keys(rec.Written)) {
		if _, ok := rec.Want[k]; ok || !room(1) {
			continue
		}
		// Remove only the entry this host wrote (another host may have
		// taken the address since).
		if v, err := tx.Store().Get(ctx, []byte(k)); err == nil {
			var l Listener
			if cmdb.Decode(v, &l) == nil && l.Host == host.ID {
				if err := tx.Store().Delete([]byte(k)); err != nil {
					return false, err
				}
			}
		} else if !errors.Is(err, store.ErrNotFound) {
			return false, err
		}
		delete(rec.Written, k)
	}
	for _, k := range slices.Sorted(maps.Keys(rec.Want)) {
		proc := rec.Want[k]
		if p, ok := rec.Written[k]; (ok && p == proc) || !room(1) {
			continue
		}
		v, err := cmdb.Encode(Listener{Host: host.ID, HostName: host.Name, Process: proc})
		if err != nil {
			return false, err
		}
		if err := tx.Store().Put([]byte(k), v); err != nil {
			return false, err
		}
		rec.Written[k] = proc
	}
	created := 0
	var left []Endpoint
	sighted := map[string]bool{}
	for i, ep := range rec.Pending {
		if created >= e.cfg.MaxNewDeps || !room(14) {
			left = append(left, rec.Pending[i:]...)
			break
		}
		isNew, svcID, err := e.dependency(ctx, tx, host, ep, &rec)
		if err != nil {
			return false, err
		}
		if svcID != "" {
			sighted[svcID] = true
		}
		if isNew {
			created++
			res.Changed++
		}
	}
	rec.Pending = left
	if r.Has(SecSockets) && len(left) == 0 {
		// Connections this report no longer shows: write their last
		// sightings, and forget them.
		for _, svcID := range slices.Sorted(maps.Keys(rec.Seen)) {
			if sighted[svcID] {
				continue
			}
			if sg := rec.Seen[svcID]; sg.Count > 0 {
				if !room(1) {
					continue
				}
				if err := writeSightings(tx, host.ID, svcID, sg); err != nil {
					return false, err
				}
			}
			delete(rec.Seen, svcID)
		}
	}
	settled = !short && len(left) == 0
	if len(rec.Want) == 0 && len(rec.Written) == 0 && len(rec.Pending) == 0 && len(rec.Seen) == 0 {
		if raw == nil {
			return settled, nil
		}
		return settled, tx.Store().Delete(key)
	}
	v, err := cmdb.Encode(rec)
	if err != nil || bytes.Equal(v, raw) {
		return settled, err
	}
	return settled, tx.Store().Put(key, v)
}

// ServiceID is the id of the service CI for a port listened on by a host.
func ServiceID(host, proto string, port uint32) string {
	return cmdb.DerivedID(cmdb.ClassService, host+"/"+proto+"/"+strconv.FormatUint(uint64(port), 10))
}

// dependency records one observed connection from client to ep: the
// service CI on the server host (runs_on), and client -depends_on->
// service with its observation count and last sighting. A relationship
// written less than SightingEvery ago is not read or written: the
// sighting is counted in rec.Seen, and written with the next write. It
// returns the service's id ("" when nobody known listens at ep) and
// whether it created the depends_on relationship.
func (e *Engine) dependency(ctx context.Context, tx *cmdb.Tx, client *cmdb.CI, ep Endpoint, rec *HostSockets) (bool, string, error) {
	v, err := tx.Store().Get(ctx, []byte(listenerKey(ep.Proto, ep.IP, ep.Port)))
	if errors.Is(err, store.ErrNotFound) {
		return false, "", nil // nobody known listens there (yet)
	}
	if err != nil {
		return false, "", err
	}
	var l Listener
	if err := cmdb.Decode(v, &l); err != nil {
		return false, "", err
	}
	if l.Host == client.ID {
		return false, "", nil
	}
	svcID := ServiceID(l.Host, ep.Proto, ep.Port)
	now := tx.Now()
	sg, seen := rec.Seen[svcID]
	if seen && sg.Process == l.Process && !now.Before(sg.Written) && now.Sub(sg.Written) < e.cfg.SightingEvery {
		sg.Count++
		sg.Last = now
		rec.Seen[svcID] = sg
		return false, svcID, nil
	}
	svc, err := tx.CI(svcID)
	if err != nil && !errors.Is(err, cmdb.ErrNotFound) {
		return false, "", err
	}
	what := l.Process
	if what == "" {
		what = ep.Proto + "/" + strconv.FormatUint(uint64(ep.Port), 10)
	}
	next := &cmdb.CI{ID: svcID, Class: cmdb.ClassService, Subclass: "application", State: "use"}
	if svc != nil {
		next = cloneCI(svc)
	}
	next.Name = fmt.Sprintf("%s on %s:%d", what, l.HostName, ep.Port)
	for k, val := range map[string]any{"port": int64(ep.Port), "protocol": ep.Proto, "process": l.Process, "host": l.HostName} {
		SetAttr(e.cfg.Precedence, next, k, val, cmdb.SourceAgent, now)
	}
	if _, err := tx.PutCI(svc, next); err != nil {
		return false, "", err
	}
	if svc == nil {
		if err := tx.PutRel(cmdb.Relationship{From: svcID, To: l.Host, Type: cmdb.RelRunsOn, Source: cmdb.SourceAgent}); err != nil {
			return false, "", err
		}
	}
	old, err := tx.Rel(client.ID, cmdb.RelDependsOn, svcID)
	if err != nil && !errors.Is(err, cmdb.ErrNotFound) {
		return false, "", err
	}
	rel := cmdb.Relationship{From: client.ID, To: svcID, Type: cmdb.RelDependsOn, Source: cmdb.SourceAgent,
		LastSeen: now, Observations: 1 + sg.Count,
		Attrs: map[string]string{"port": strconv.FormatUint(uint64(ep.Port), 10), "protocol": ep.Proto}}
	if ep.Process != "" {
		rel.Attrs["client_process"] = ep.Process
	}
	if old != nil {
		rel.Attrs = old.Attrs // first sighting names the client process; no churn after
		rel.Observations += old.Observations
	}
	if err := tx.PutRelOver(old, rel); err != nil {
		return false, "", err
	}
	if e.cfg.SightingEvery > 0 {
		if rec.Seen == nil {
			rec.Seen = map[string]Sighting{}
		}
		rec.Seen[svcID] = Sighting{Process: l.Process, Written: now}
	}
	if old == nil {
		return true, svcID, tx.Store().Put([]byte(PrefixDependency+client.ID+"/"+svcID), nil)
	}
	return false, svcID, nil
}

// writeSightings adds the sightings counted in sg to client -depends_on->
// svcID (none when it was removed meanwhile).
func writeSightings(tx *cmdb.Tx, client, svcID string, sg Sighting) error {
	old, err := tx.Rel(client, cmdb.RelDependsOn, svcID)
	if errors.Is(err, cmdb.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	rel := *old
	rel.Observations += sg.Count
	if sg.Last.After(rel.LastSeen) {
		rel.LastSeen = sg.Last
	}
	return tx.PutRelOver(old, rel)
}

// DependencyAger removes discovered depends_on relationships that were not
// observed for MaxAge, with a history entry on both ends and an audit
// record. Run it as a singleton job.
type DependencyAger struct {
	st  store.Store
	log *slog.Logger
	// MaxAge defaults to DefaultDependencyMaxAge, Every to DefaultSweepEvery.
	MaxAge time.Duration
	Every  time.Duration
	Now    func() time.Time
}

// NewDependencyAger returns an ager over st.
func NewDependencyAger(st store.Store, log *slog.Logger) *DependencyAger {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &DependencyAger{st: st, log: log.With("component", "dependency-ager"), MaxAge: DefaultDependencyMaxAge,
		Every: DefaultSweepEvery, Now: time.Now}
}

// Run ages dependencies every Every until ctx ends.
func (a *DependencyAger) Run(ctx context.Context) error {
	if a.MaxAge <= 0 {
		return fmt.Errorf("dependency max age %v: want > 0: %w", a.MaxAge, cmdb.ErrInvalid)
	}
	t := time.NewTicker(a.Every)
	defer t.Stop()
	for {
		if n, err := a.Age(ctx, a.Now()); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			a.log.Warn("ageing failed", "err", err)
		} else if n > 0 {
			a.log.Info("dependencies aged out", "removed", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Age removes, as of now, every discovered depends_on last seen more than
// MaxAge ago, and returns how many it removed.
func (a *DependencyAger) Age(ctx context.Context, now time.Time) (int, error) {
	removed := 0
	var after []byte
	for {
		kvs, err := a.st.Scan(ctx, store.Range{Prefix: []byte(PrefixDependency), After: after, Limit: 500})
		if err != nil {
			return removed, err
		}
		var old [][2]string
		for _, kv := range kvs {
			parts := strings.Split(strings.TrimPrefix(string(kv.Key), PrefixDependency), "/")
			if len(parts) == 2 {
				old = append(old, [2]string{parts[0], parts[1]})
			}
		}
		for len(old) > 0 {
			n := min(20, len(old)) // ≤ 6 writes each
			chunk := old[:n]
			old = old[n:]
			var done int
			_, err := a.st.Update(ctx, func(stx store.Txn) error {
				done = 0
				tx := cmdb.NewTx(ctx, stx, "system:dependency-ager", now)
				for _, p := range chunk {
					rel, err := tx.Rel(p[0], cmdb.RelDependsOn, p[1])
					if errors.Is(err, cmdb.ErrNotFound) {
						if err := stx.Delete([]byte(PrefixDependency + p[0] + "/" + p[1])); err != nil {
							return err
						}
						continue
					}
					if err != nil {
						return err
					}
					if now.Sub(rel.LastSeen) < a.MaxAge {
						continue
					}
					if err := tx.DeleteRel(p[0], cmdb.RelDependsOn, p[1]); err != nil {
						return err
					}
					if err := stx.Delete([]byte(PrefixDependency + p[0] + "/" + p[1])); err != nil {
						return err
					}
					if err := audit.Record(stx, audit.Entry{At: now, Actor: "system:dependency-ager", Action: "relationship.age_out",
						Object: "rel/" + p[0] + "/depends_on/" + p[1], Before: rel.LastSeen.UTC().Format(time.RFC3339)}); err != nil {
						return err
					}
					done++
				}
				return nil
			})
			if err != nil {
				return removed, fmt.Errorf("age dependencies: %w", err)
			}
			removed += done
		}
		if len(kvs) < 500 {
			return removed, nil
		}
		after = kvs[len(kvs)-1].Key
	}
}

package reconcile

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"time"

	"parc/cmdb"
	"parc/cmdb/store"
)

// Precedence is the rule table that decides which source may set an
// attribute: a source may overwrite a value set by a source at the same or a
// lower rank. Discovered facts rank agents first; business facts rank
// people first, so discovery never overwrites a manual owner or cost.
type Precedence struct {
	// Attrs maps an attribute name to its source order, strongest first.
	Attrs map[string][]string
	// Default is the order for attributes not in Attrs.
	Default []string
}

// BusinessAttrs are the attributes people own.
var BusinessAttrs = []string{"owner", "location", "cost", "purchase_date", "supplier", "order_number",
	"warranty_end", "department", "cost_center", "criticality", "notes", "asset_tag"}

// DefaultPrecedence returns the table of DESIGN.md.
func DefaultPrecedence() *Precedence {
	p := &Precedence{Attrs: map[string][]string{}, Default: []string{cmdb.SourceAgent, cmdb.SourcePlugin, cmdb.SourceImport, cmdb.SourceManual}}
	for _, a := range BusinessAttrs {
		p.Attrs[a] = []string{cmdb.SourceManual, cmdb.SourceImport, cmdb.SourcePlugin, cmdb.SourceAgent}
	}
	return p
}

func (p *Precedence) rank(attr, source string) int {
	order, ok := p.Attrs[attr]
	if !ok {
		order = p.Default
	}
	for i, s := range order {
		if s == source {
			return i
		}
	}
	return len(order)
}

// May reports whether source may overwrite a value of attr set by prev.
func (p *Precedence) May(attr, source, prev string) bool {
	return prev == "" || prev == source || p.rank(attr, source) <= p.rank(attr, prev)
}

// SetAttr sets attr on ci from source if the precedence table allows it.
// Its update time changes only when the value or source does. A nil or
// empty value removes an attribute that source owns.
func SetAttr(p *Precedence, ci *cmdb.CI, attr string, value any, source string, now time.Time) {
	old, had := ci.Attrs[attr]
	if had && !p.May(attr, source, old.Source) {
		return
	}
	if isEmpty(value) {
		if had {
			delete(ci.Attrs, attr)
		}
		return
	}
	if had && old.Source == source && reflect.DeepEqual(cmdb.Canon(old.Value), cmdb.Canon(value)) {
		return
	}
	if ci.Attrs == nil {
		ci.Attrs = map[string]cmdb.Attr{}
	}
	ci.Attrs[attr] = cmdb.Attr{Value: value, Source: source, Updated: now}
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case int64:
		return x == 0
	case float64:
		return x == 0
	case []string:
		return len(x) == 0
	}
	return false
}

// sectionAttrs returns, per present section, the host attributes it sets.
func sectionAttrs(r *Report) map[string]map[string]any {
	inv := &r.Inventory
	out := map[string]map[string]any{}
	if r.Has(SecSystem) {
		s := inv.System
		var boot int64
		if !s.BootTime.IsZero() {
			boot = s.BootTime.Unix()
		}
		out[SecSystem] = map[string]any{
			"hostname": s.Hostname, "fqdn": s.FQDN, "domain": s.Domain, "os_name": s.OSName,
			"os_version": s.OSVersion, "os_family": s.OSFamily, "kernel": s.Kernel, "arch": s.Arch,
			"machine_id": s.MachineID, "boot_time": boot, "timezone": s.Timezone,
			"virtualization_role": s.VirtualizationRole, "virtualization_type": s.VirtType,
			"users": sortedCopy(s.Users),
		}
	}
	if r.Has(SecFirmware) {
		f := inv.Firmware
		clean := func(v string) string {
			if IsJunk(v) {
				return ""
			}
			return strings.TrimSpace(v)
		}
		out[SecFirmware] = map[string]any{
			"bios_vendor": clean(f.BIOSVendor), "bios_version": clean(f.BIOSVersion), "bios_date": clean(f.BIOSDate),
			"vendor": clean(f.Vendor), "model": clean(f.Product), "serial": clean(f.Serial), "uuid": strings.ToLower(clean(f.UUID)),
			"board_vendor": clean(f.BoardVendor), "board_name": clean(f.BoardName), "board_serial": clean(f.BoardSerial),
			"chassis_vendor": clean(f.ChassisVendor), "chassis_type": clean(f.ChassisType), "chassis_serial": clean(f.ChassisSerial),
			"asset_tag": clean(firstNonEmpty(f.AssetTag, f.ChassisAssetTag)),
		}
	}
	if r.Has(SecMemory) {
		out[SecMemory] = map[string]any{"memory_bytes": int64(inv.Memory.TotalBytes), "memory_dimms": int64(inv.Memory.DIMMs)}
	}
	if r.Has(SecCPU) {
		out[SecCPU] = map[string]any{"cpu_model": inv.CPU.Model, "cpu_cores": int64(inv.CPU.Cores), "cpu_threads": int64(inv.CPU.Thread)}
	}
	if r.Has(SecNICs) {
		var virt []string
		for _, n := range inv.NICs {
			if n.Virtual || !validMAC(n.MAC) {
				virt = append(virt, n.Name)
			}
		}
		sort.Strings(virt)
		out[SecNICs] = map[string]any{"virtual_nics": virt}
	}
	return out
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if strings.TrimSpace(s) != "" && !IsJunk(s) {
			return s
		}
	}
	return ""
}

func sortedCopy(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	c := append([]string(nil), s...)
	sort.Strings(c)
	return c
}

// hostFacts sets the host's name, subclass and attributes from the
// sections present in the report.
func (e *Engine) hostFacts(ci *cmdb.CI, r *Report, now time.Time) {
	for _, attrs := range sectionAttrs(r) {
		for k, v := range attrs {
			SetAttr(e.cfg.Precedence, ci, k, v, cmdb.SourceAgent, now)
		}
	}
	if r.Has(SecSystem) {
		ci.Name = r.Inventory.System.Hostname
		ci.Subclass = subclass(r)
	}
	if ci.Flags != nil {
		for _, f := range []string{"stale", "retirement_proposed"} {
			delete(ci.Flags, f)
		}
		if len(ci.Flags) == 0 {
			ci.Flags = nil
		}
	}
}

func subclass(r *Report) string {
	s := r.Inventory.System
	if strings.EqualFold(s.VirtualizationRole, "guest") {
		return "virtual_machine"
	}
	switch strings.ToLower(r.Inventory.Firmware.ChassisType) {
	case "laptop", "notebook", "portable", "sub notebook", "8", "9", "10", "14":
		return "laptop"
	case "desktop", "tower", "mini tower", "all in one", "3", "4", "6", "7", "13":
		return "workstation"
	}
	return "server"
}

type component struct {
	class, key, name string
	attrs            map[string]any
	idents           map[string][]string
}

func components(r *Report, host string) map[string][]component {
	inv := &r.Inventory
	out := map[string][]component{}
	if r.Has(SecCPU) && inv.CPU.Model != "" {
		out[cmdb.ClassCPU] = []component{{class: cmdb.ClassCPU, key: "cpu", name: host + " cpu: " + inv.CPU.Model,
			attrs: map[string]any{"model": inv.CPU.Model, "vendor": inv.CPU.Vendor, "sockets": int64(inv.CPU.Sockets),
				"cores": int64(inv.CPU.Cores), "threads": int64(inv.CPU.Thread), "mhz": inv.CPU.MHz}}}
	}
	if r.Has(SecDisks) {
		cs := []component{}
		for _, d := range inv.Disks {
			c := component{class: cmdb.ClassDisk, key: d.Name, name: host + " disk " + d.Name,
				attrs: map[string]any{"device": d.Name, "model": d.Model, "serial": d.Serial, "vendor": d.Vendor,
					"size_bytes": int64(d.SizeBytes), "type": d.Type, "rotational": d.Rotational}}
			if d.Serial != "" && !IsJunk(d.Serial) {
				c.idents = map[string][]string{IDSerial: {SerialIdentifier(d.Vendor, d.Serial)}}
			}
			cs = append(cs, c)
		}
		out[cmdb.ClassDisk] = cs
	}
	if r.Has(SecNICs) {
		cs := []component{}
		for _, n := range inv.NICs {
			if n.Virtual || !validMAC(n.MAC) {
				continue
			}
			mac := strings.ToLower(n.MAC)
			cs = append(cs, component{class: cmdb.ClassNIC, key: mac, name: host + " nic " + n.Name,
				attrs: map[string]any{"interface": n.Name, "mac": mac, "speed_mbps": n.SpeedMbps,
					"addresses": sortedCopy(n.Addresses), "driver": n.Driver},
				idents: map[string][]string{IDMAC: {mac}}})
		}
		out[cmdb.ClassNIC] = cs
	}
	if r.Has(SecDevices) {
		cs := []component{}
		for _, g := range inv.GPUs {
			cs = append(cs, component{class: cmdb.ClassGPU, key: g.Address, name: host + " gpu " + strings.TrimSpace(g.Vendor+" "+g.Product),
				attrs: map[string]any{"address": g.Address, "vendor": g.Vendor, "product": g.Product, "driver": g.Driver}})
		}
		out[cmdb.ClassGPU] = cs
	}
	return out
}

// applyComponents reconciles the host's component CIs (cpu, disks, NICs,
// GPUs) of every present section: new ones are created and linked with
// contains, changed ones updated, missing ones unlinked and flagged removed
// (never deleted).
func (e *Engine) applyComponents(tx *cmdb.Tx, host *cmdb.CI, r *Report, res *Result) error {
	want := components(r, host.Name)
	if len(want) == 0 {
		return nil
	}
	rels, err := tx.OutRels(host.ID, cmdb.RelContains)
	if err != nil {
		return err
	}
	have := map[string]*cmdb.CI{}
	for _, rel := range rels {
		ci, err := tx.CI(rel.To)
		if err != nil {
			return err
		}
		have[ci.ID] = ci
	}
	keep := map[string]bool{}
	for class, cs := range want {
		for _, c := range cs {
			id := cmdb.DerivedID(class, host.ID+"/"+c.key)
			keep[id] = true
			old := have[id]
			if old == nil {
				if o, err := tx.CI(id); err == nil {
					old = o // unlinked earlier, now back
				} else if !errors.Is(err, cmdb.ErrNotFound) {
					return err
				}
			}
			next := &cmdb.CI{ID: id, Class: class, State: "use"}
			if old != nil {
				next = cloneCI(old)
				delete(next.Flags, "removed")
				if len(next.Flags) == 0 {
					next.Flags = nil
				}
			}
			next.Name = c.name
			for k, v := range c.attrs {
				SetAttr(e.cfg.Precedence, next, k, v, cmdb.SourceAgent, tx.Now())
			}
			if c.idents != nil {
				next.Identifiers = c.idents
			}
			changed, err := tx.PutCI(old, next)
			if err != nil {
				return err
			}
			if changed {
				res.Changed++
			}
			if _, linked := have[id]; !linked {
				if err := tx.PutRel(cmdb.Relationship{From: host.ID, To: id, Type: cmdb.RelContains, Source: cmdb.SourceAgent}); err != nil {
					return err
				}
				res.Changed++
			}
		}
	}
	for id, ci := range have {
		if keep[id] {
			continue
		}
		if _, managed := want[ci.Class]; !managed {
			continue // its section was not in this delta
		}
		if err := tx.DeleteRel(host.ID, cmdb.RelContains, id); err != nil {
			return err
		}
		next := cloneCI(ci)
		next.Flags["removed"] = true
		if _, err := tx.PutCI(ci, next); err != nil {
			return err
		}
		res.Changed++
	}
	return nil
}

// EventKey is the store key of a health condition.
func EventKey(host, kind, subject string) []byte {
	return []byte(PrefixEvent + host + "/" + kind + "/" + url.PathEscape(subject))
}

func (e *Engine) applyEvents(ctx context.Context, tx *cmdb.Tx, host string, events []HealthEvent, res *Result) error {
	for _, ev := range events {
		if ev.Kind == "" {
			continue
		}
		key := EventKey(host, ev.Kind, ev.Subject)
		var old *EventRecord
		if v, err := tx.Store().Get(ctx, key); err == nil {
			old = &EventRecord{}
			if err := cmdb.Decode(v, old); err != nil {
				return err
			}
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if ev.OK && (old == nil || old.OK) {
			continue // recovery of nothing
		}
		at := ev.At
		if at.IsZero() {
			at = tx.Now()
		}
		rec := EventRecord{Host: host, Kind: ev.Kind, Subject: ev.Subject, OK: ev.OK, Message: truncate(ev.Message, 1024), Value: ev.Value, At: at.UTC()}
		if old != nil && !old.OK {
			rec.Count = old.Count
		}
		if !ev.OK {
			rec.Count++
		}
		v, err := cmdb.Encode(rec)
		if err != nil {
			return err
		}
		if err := tx.Store().Put(key, v); err != nil {
			return fmt.Errorf("record event %s: %w", key, err)
		}
		res.Changed++
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

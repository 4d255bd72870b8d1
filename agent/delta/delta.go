package delta

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	parcv1 "parc/proto/parc/v1"
)

// Sections lists the section names of parcv1.Inventory (its field names),
// in field order.
func Sections() []string {
	fields := (&parcv1.Inventory{}).ProtoReflect().Descriptor().Fields()
	out := make([]string, fields.Len())
	for i := range fields.Len() {
		out[i] = string(fields.Get(i).Name())
	}
	return out
}

// Hash returns the hash of one section: the first 128 bits of the SHA-256 of
// its deterministic marshaling, in hex. A nil section hashes like an empty
// one. Volatile values are coarsened first (see stable), so a section only
// changes hash when its content changes in a way worth reporting.
func Hash(m proto.Message) string {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(stable(m))
	if err != nil {
		// Marshaling our own well-formed messages cannot fail; hash the
		// error so the section still compares unequal to anything real.
		b = []byte(err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// stable returns m, or a copy with volatile values coarsened: filesystem
// usage is hashed in whole percent of the filesystem's size, so a growing
// log file does not turn every heartbeat into a delta. The values sent are
// the exact ones.
func stable(m proto.Message) proto.Message {
	fs, ok := m.(*parcv1.Filesystems)
	if !ok || fs == nil {
		return m
	}
	c := proto.Clone(fs).(*parcv1.Filesystems)
	for _, f := range c.Items {
		if f.SizeBytes > 0 {
			f.UsedBytes = f.UsedBytes * 100 / f.SizeBytes
		}
	}
	return c
}

// HashAll returns the hash of every section of inv by name.
func HashAll(inv *parcv1.Inventory) map[string]string {
	out := map[string]string{}
	r := inv.ProtoReflect()
	fields := r.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		out[string(fd.Name())] = Hash(sectionOf(r, fd))
	}
	return out
}

// sectionOf returns the section, or its empty read-only default when unset.
func sectionOf(r protoreflect.Message, fd protoreflect.FieldDescriptor) proto.Message {
	return r.Get(fd).Message().Interface()
}

// Tracker remembers the sections last handed out and computes the next
// payload. It is not safe for concurrent use.
type Tracker struct {
	// SoftwareChanges sends a changed software list as the packages that
	// changed (Payload.SoftwareChanges) rather than whole: set it once the
	// collector says it applies them (Ack.software_changes).
	SoftwareChanges bool

	last   *parcv1.Inventory
	hashes map[string]string
}

// Payload is what the next report carries.
type Payload struct {
	Kind parcv1.Report_Kind
	// Inventory holds every section for FULL, the changed ones for DELTA,
	// nothing (nil) for HEARTBEAT.
	Inventory *parcv1.Inventory
	// Hashes are the hashes of every section after this report.
	Hashes map[string]string
	// Changed names the sections a DELTA carries.
	Changed []string
	// SoftwareChanges, in a DELTA with Tracker.SoftwareChanges set, stands
	// for the software section (then unset in Inventory): the packages
	// that changed since the last payload.
	SoftwareChanges *parcv1.SoftwareChanges
}

// Next compares inv with what was handed out last and returns the payload.
// full forces a FULL payload (first report of a run, resync, schedule). A
// section that is unset in inv (its gatherer failed) keeps its previous
// value instead of being reported as gone.
func (t *Tracker) Next(inv *parcv1.Inventory, full bool) Payload {
	cur := proto.Clone(inv).(*parcv1.Inventory)
	if t.last != nil {
		carryForward(cur, t.last)
	}
	hashes := HashAll(cur)
	if full || t.last == nil {
		t.last, t.hashes = cur, hashes
		return Payload{Kind: parcv1.Report_FULL, Inventory: proto.Clone(cur).(*parcv1.Inventory), Hashes: hashes}
	}
	out := &parcv1.Inventory{}
	var changed []string
	var swChanges *parcv1.SoftwareChanges
	src, dst := cur.ProtoReflect(), out.ProtoReflect()
	fields := src.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		name := string(fd.Name())
		if hashes[name] == t.hashes[name] {
			continue
		}
		changed = append(changed, name)
		if name == "software" && t.SoftwareChanges {
			if c, ok := SoftwareDiff(t.last.GetSoftware(), cur.GetSoftware()); ok {
				c.Base = t.hashes[name]
				swChanges = c
				continue
			}
		}
		if src.Has(fd) {
			dst.Set(fd, protoreflect.ValueOfMessage(proto.Clone(src.Get(fd).Message().Interface()).ProtoReflect()))
		}
	}
	t.last, t.hashes = cur, hashes
	if len(changed) == 0 {
		return Payload{Kind: parcv1.Report_HEARTBEAT, Hashes: hashes}
	}
	return Payload{Kind: parcv1.Report_DELTA, Inventory: out, Hashes: hashes, Changed: changed, SoftwareChanges: swChanges}
}

type pkgKey struct{ name, arch, source string }

// SoftwareDiff returns the packages set (added or changed) and removed
// from before to after, each sorted as gather.Normalize sorts, without
// Base. It declines (false) when either list holds a (name, arch, source)
// twice, which only a whole list says right, and when more than half of
// after changed, which the whole list says in fewer bytes.
func SoftwareDiff(before, after *parcv1.SoftwareList) (*parcv1.SoftwareChanges, bool) {
	old := make(map[pkgKey]*parcv1.Software, len(before.GetItems()))
	for _, p := range before.GetItems() {
		k := pkgKey{p.GetName(), p.GetArch(), p.GetSource()}
		if old[k] != nil {
			return nil, false
		}
		old[k] = p
	}
	c := &parcv1.SoftwareChanges{}
	seen := make(map[pkgKey]bool, len(after.GetItems()))
	for _, p := range after.GetItems() {
		k := pkgKey{p.GetName(), p.GetArch(), p.GetSource()}
		if seen[k] {
			return nil, false
		}
		seen[k] = true
		if o := old[k]; o == nil || !proto.Equal(o, p) {
			c.Set = append(c.Set, proto.Clone(p).(*parcv1.Software))
		}
	}
	for _, p := range before.GetItems() {
		if !seen[pkgKey{p.GetName(), p.GetArch(), p.GetSource()}] {
			c.Removed = append(c.Removed, &parcv1.Software{Name: p.GetName(), Arch: p.GetArch(), Source: p.GetSource()})
		}
	}
	if 2*(len(c.Set)+len(c.Removed)) > len(after.GetItems()) {
		return nil, false
	}
	slices.SortFunc(c.Set, compareKey)
	slices.SortFunc(c.Removed, compareKey)
	return c, true
}

func compareKey(a, b *parcv1.Software) int {
	return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.Arch, b.Arch), strings.Compare(a.Source, b.Source))
}

// Current returns the inventory as last handed out (nil before the first
// Next). Callers must not modify it.
func (t *Tracker) Current() *parcv1.Inventory { return t.last }

func carryForward(cur, prev *parcv1.Inventory) {
	c, p := cur.ProtoReflect(), prev.ProtoReflect()
	fields := c.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if !c.Has(fd) && p.Has(fd) {
			c.Set(fd, p.Get(fd))
		}
	}
}

package reconcile

import (
	"fmt"
	"net"
	"sort"
	"strings"
)

// Identifier kinds, as stored in CI.Identifiers and the identifier index.
const (
	IDAgent     = "agent"
	IDSerial    = "serial" // vendor|serial
	IDUUID      = "uuid"
	IDMachineID = "machine_id"
	IDMAC       = "mac"
	IDHostname  = "hostname"
	IDFQDN      = "fqdn"
	IDIP        = "ip"
	IDAssetTag  = "asset_tag"
)

// Rule names for Config.Rules, strongest first by default.
const (
	RuleAgent     = "agent"
	RuleSerial    = "serial"
	RuleUUID      = "uuid"
	RuleMachineID = "machine_id"
	RuleMACHost   = "mac_hostname"
)

// DefaultRules is the identification order of DESIGN.md.
var DefaultRules = []string{RuleAgent, RuleSerial, RuleUUID, RuleMachineID, RuleMACHost}

// ParseRules validates a comma-separated rule order.
func ParseRules(s string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, r := range strings.Split(s, ",") {
		r = strings.TrimSpace(r)
		switch r {
		case RuleAgent, RuleSerial, RuleUUID, RuleMachineID, RuleMACHost:
		default:
			return nil, fmt.Errorf("unknown identification rule %q (known: %s)", r, strings.Join(DefaultRules, ", "))
		}
		if seen[r] {
			return nil, fmt.Errorf("identification rule %q given twice", r)
		}
		seen[r] = true
		out = append(out, r)
	}
	return out, nil
}

var junkValues = map[string]bool{
	"": true, "to be filled by o.e.m.": true, "to be filled by oem": true, "default string": true,
	"system serial number": true, "system product name": true, "system manufacturer": true,
	"not specified": true, "not applicable": true, "none": true, "null": true, "n/a": true, "na": true,
	"0": true, "00000000": true, "0000000000": true, "123456789": true, "1234567890": true,
	"chassis serial number": true, "base board serial number": true, "oem": true, "o.e.m.": true,
	"invalid": true, "unknown": true, "serial": true, "xxxxxxxxxx": true, "empty": true,
	"03000200-0400-0500-0006-000700080009": true, "ffffffff-ffff-ffff-ffff-ffffffffffff": true,
	"00000000-0000-0000-0000-000000000000": true,
}

// IsJunk reports whether an identifying value is a placeholder that must
// never identify a machine.
func IsJunk(v string) bool {
	v = strings.ToLower(strings.TrimSpace(v))
	if junkValues[v] {
		return true
	}
	if strings.Trim(v, "0-: ") == "" || strings.Trim(v, "f-: ") == "" {
		return true
	}
	return false
}

// IsUsableMAC reports whether mac can identify a machine: well-formed, not
// all-zero, not broadcast or multicast, and not locally administered.
func IsUsableMAC(mac string) bool {
	hw, err := net.ParseMAC(mac)
	if err != nil || len(hw) != 6 || IsJunk(mac) {
		return false
	}
	return hw[0]&0x02 == 0 && hw[0]&0x01 == 0
}

// validMAC reports whether mac is a well-formed, non-zero hardware address
// (a NIC worth a CI, even when it cannot identify the machine).
func validMAC(mac string) bool {
	hw, err := net.ParseMAC(mac)
	return err == nil && len(hw) == 6 && !IsJunk(mac)
}

var vendorAliases = map[string]string{
	"hewlett-packard": "hp", "hewlett packard": "hp", "hp": "hp", "hpe": "hp",
	"dell inc.": "dell", "dell": "dell", "lenovo": "lenovo", "ibm": "lenovo",
	"vmware, inc.": "vmware", "vmware": "vmware", "microsoft corporation": "microsoft",
	"qemu": "qemu", "innotek gmbh": "virtualbox", "oracle corporation": "virtualbox",
	"supermicro": "supermicro", "super micro computer": "supermicro", "apple inc.": "apple",
}

// NormalizeVendor folds vendor spellings ("Dell Inc." and "DELL") together.
func NormalizeVendor(v string) string {
	v = strings.ToLower(strings.TrimSpace(v))
	if a, ok := vendorAliases[v]; ok {
		return a
	}
	for _, suffix := range []string{" inc.", " inc", ", inc.", " corporation", " corp.", " co., ltd.", " gmbh", " ltd."} {
		v = strings.TrimSuffix(v, suffix)
	}
	if a, ok := vendorAliases[v]; ok {
		return a
	}
	return v
}

// SerialIdentifier is the identifier value of a hardware serial: the
// normalized vendor and the serial, or "" when either is junk.
func SerialIdentifier(vendor, serial string) string {
	serial = strings.TrimSpace(serial)
	if IsJunk(serial) {
		return ""
	}
	return NormalizeVendor(vendor) + "|" + strings.ToUpper(serial)
}

// identifiers returns the identifying values a report carries.
func identifiers(r *Report) map[string][]string {
	inv := &r.Inventory
	ids := map[string][]string{}
	add := func(kind, v string) {
		v = strings.TrimSpace(v)
		if v == "" || IsJunk(v) {
			return
		}
		for _, have := range ids[kind] {
			if have == v {
				return
			}
		}
		ids[kind] = append(ids[kind], v)
	}
	if r.AgentID != "" {
		add(IDAgent, r.AgentID)
	}
	add(IDSerial, SerialIdentifier(inv.Firmware.Vendor, inv.Firmware.Serial))
	add(IDUUID, strings.ToLower(inv.Firmware.UUID))
	add(IDMachineID, strings.ToLower(inv.System.MachineID))
	add(IDHostname, strings.ToLower(inv.System.Hostname))
	add(IDFQDN, strings.ToLower(inv.System.FQDN))
	add(IDAssetTag, inv.Firmware.AssetTag)
	for _, n := range inv.NICs {
		if !n.Virtual && IsUsableMAC(n.MAC) {
			add(IDMAC, strings.ToLower(n.MAC))
		}
		for _, a := range n.Addresses {
			ip := a
			if i := strings.IndexByte(a, '/'); i >= 0 {
				ip = a[:i]
			}
			if p := net.ParseIP(ip); p != nil && !p.IsLoopback() && !p.IsLinkLocalUnicast() {
				add(IDIP, p.String())
			}
		}
	}
	for k := range ids {
		sort.Strings(ids[k])
	}
	return ids
}

package gather

import "strings"

// junkValues are placeholders firmware vendors leave in SMBIOS fields.
var junkValues = map[string]bool{
	"to be filled by o.e.m.": true, "to be filled by oem": true, "default string": true,
	"system product name": true, "system manufacturer": true, "system version": true,
	"system serial number": true, "base board serial number": true, "chassis serial number": true,
	"not specified": true, "not applicable": true, "not available": true, "none": true,
	"n/a": true, "na": true, "unknown": true, "oem": true, "o.e.m.": true, "0": true,
	"123456789": true, "1234567890": true, "0123456789": true, "xxxxxxxxxx": true,
	"asset-1234567890": true, "no asset tag": true, "no asset information": true,
	"type1productconfigid": true, "type2 - board serial number": true, "empty": true,
	"invalid": true, "default": true, "serial": true, "sku": true, "unspecified": true,
}

// junk returns s trimmed, or "" when it is a placeholder: a known junk
// string, or only zeros, "F"s, dashes, dots, X's or spaces (all-zero UUIDs,
// "FFFFFFFF-FFFF-…", "........").
func junk(s string) string {
	s = trimSpace(s)
	if s == "" || junkValues[strings.ToLower(s)] {
		return ""
	}
	stripped := strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' || r == '.' || r == ':' {
			return -1
		}
		return r
	}, strings.ToLower(s))
	if stripped == "" {
		return ""
	}
	if c := stripped[0]; strings.IndexByte("0fx*", c) >= 0 && strings.Trim(stripped, string(c)) == "" {
		return ""
	}
	return s
}

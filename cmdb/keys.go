package cmdb

import (
	"fmt"
	"strings"
	"time"
)

// Key prefixes of the graph (see the package comment).
const (
	PrefixCI       = "ci/"
	PrefixClass    = "cn/"
	PrefixName     = "nm/"
	PrefixRelOut   = "ro/"
	PrefixRelIn    = "ri/"
	PrefixHistory  = "h/"
	PrefixIdent    = "id/"
	PrefixSoftware = "sw/"
)

func ciKey(id string) []byte           { return []byte(PrefixCI + id) }
func classKey(class, id string) []byte { return []byte(PrefixClass + class + "/" + id) }
func nameKey(name, id string) []byte   { return []byte(PrefixName + nameIndex(name) + "/" + id) }
func identKey(kind, v, id string) []byte {
	return []byte(PrefixIdent + kind + "/" + escape(v) + "/" + id)
}
func identPrefix(kind, v string) []byte { return []byte(PrefixIdent + kind + "/" + escape(v) + "/") }
func softwareKey(host string) []byte    { return []byte(PrefixSoftware + host) }
func relOutKey(from, typ, to string) []byte {
	return []byte(PrefixRelOut + from + "/" + typ + "/" + to)
}
func relInKey(to, typ, from string) []byte { return []byte(PrefixRelIn + to + "/" + typ + "/" + from) }
func historyPrefix(ci string) []byte       { return []byte(PrefixHistory + ci + "/") }
func historyKey(ci string, at time.Time, n int, tag uint32) []byte {
	return []byte(fmt.Sprintf("%s%s/%016x/%04d/%08x", PrefixHistory, ci, at.UnixNano(), n, tag))
}

// nameIndex folds a name for the name index: lower case, '/' escaped.
func nameIndex(name string) string { return escape(strings.ToLower(name)) }

// escape makes s safe as one key segment: '/' and '%' are percent-encoded.
func escape(s string) string {
	if !strings.ContainsAny(s, "/%") {
		return s
	}
	return strings.NewReplacer("%", "%25", "/", "%2F").Replace(s)
}

// lastSegment returns the part of key after its last '/'.
func lastSegment(key []byte) string {
	s := string(key)
	return s[strings.LastIndexByte(s, '/')+1:]
}

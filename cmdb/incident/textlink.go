package incident

import (
	"context"
	"net"
	"strings"
	"time"
	"unicode"

	"parc/cmdb"
	"parc/cmdb/store"
)

// maxTokens caps the distinct words of a text that are looked up.
const maxTokens = 256

// Tokens returns the distinct words of text that could name a CI: runs of
// letters, digits and . - _ : with surrounding punctuation trimmed, at
// least three characters long.
func Tokens(text string) []string {
	fields := strings.FieldsFunc(text, func(r rune) bool {
		return !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '.' || r == '-' || r == '_' || r == ':')
	})
	seen := map[string]bool{}
	var out []string
	for _, f := range fields {
		f = strings.Trim(f, ".:-_")
		if len(f) < 3 || len(f) > 253 || seen[f] {
			continue
		}
		seen[f] = true
		out = append(out, f)
		if len(out) == maxTokens {
			break
		}
	}
	return out
}

func hasDigit(s string) bool { return strings.ContainsAny(s, "0123456789") }

// maxPerMatch skips identifiers shared by more CIs than this: they do not
// single out what the text is about.
const maxPerMatch = 3

// textLinks finds CIs whose hostname, FQDN, IP, serial or asset tag appears
// in text and that in does not link yet, up to MaxCIs in total.
func (s *Service) textLinks(ctx context.Context, r store.Reader, text string, in *Incident, now time.Time) ([]Link, error) {
	have := map[string]bool{}
	for _, l := range in.CIs {
		have[l.CI] = true
	}
	room := MaxCIs - len(in.CIs)
	var out []Link
	for _, tok := range Tokens(text) {
		if room <= 0 {
			break
		}
		type probe struct{ kind, value string }
		var probes []probe
		if ip := net.ParseIP(tok); ip != nil {
			probes = append(probes, probe{"ip", ip.String()})
		} else {
			low := strings.ToLower(tok)
			probes = append(probes, probe{"hostname", low})
			if strings.Contains(low, ".") {
				probes = append(probes, probe{"fqdn", low})
			}
			if hasDigit(tok) {
				probes = append(probes, probe{"asset_tag", tok}, probe{"serial", tok})
			}
		}
		for _, p := range probes {
			var ids []string
			var err error
			if p.kind == "serial" {
				ids, err = cmdb.FindSerial(ctx, r, p.value)
			} else {
				ids, err = cmdb.FindIdentifier(ctx, r, p.kind, p.value)
			}
			if err != nil {
				return nil, err
			}
			if len(ids) == 0 || len(ids) > maxPerMatch {
				continue
			}
			for _, id := range ids {
				if have[id] || room <= 0 {
					continue
				}
				ci, err := s.g.CI(ctx, id)
				if err != nil {
					continue // index ahead of a CI being written: skip
				}
				have[id] = true
				room--
				out = append(out, Link{CI: id, Name: ci.Name, Class: ci.Class, Source: LinkText, Added: now, Match: p.kind + "=" + tok})
			}
			break
		}
	}
	return out, nil
}

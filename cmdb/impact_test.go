package cmdb_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"parc/cmdb"
	"parc/cmdb/store/teststore"
)

// impactGraph builds:
//
//	disk ←contains─ host ←runs_on─ pg ←depends_on─ web ─provides→ shop
//	                                               web ─depends_on→ cache ─depends_on→ web (a cycle)
//	                                               web ─connects_to→ lb
func impactGraph(t *testing.T) *cmdb.Graph {
	st := teststore.Open(t)
	cis := map[string]string{"disk": cmdb.ClassDisk, "host": cmdb.ClassComputer, "pg": cmdb.ClassService, "web": cmdb.ClassComputer,
		"shop": cmdb.ClassService, "cache": cmdb.ClassService, "lb": cmdb.ClassNetwork}
	edit(t, st, "user:test", t0, func(tx *cmdb.Tx) error {
		for name, class := range cis {
			if _, err := tx.PutCI(nil, &cmdb.CI{ID: id(name), Class: class, Name: name}); err != nil {
				return err
			}
		}
		for _, r := range [][3]string{{"host", cmdb.RelContains, "disk"}, {"pg", cmdb.RelRunsOn, "host"}, {"web", cmdb.RelDependsOn, "pg"},
			{"web", cmdb.RelProvides, "shop"}, {"web", cmdb.RelDependsOn, "cache"}, {"cache", cmdb.RelDependsOn, "web"}, {"web", cmdb.RelConnectsTo, "lb"}} {
			if err := tx.PutRel(cmdb.Relationship{From: id(r[0]), Type: r[1], To: id(r[2]), Source: cmdb.SourceManual}); err != nil {
				return err
			}
		}
		return nil
	})
	return cmdb.NewGraph(st)
}

// id makes a 26-character id from a short name.
func id(name string) string { return strings.ToUpper(name) + strings.Repeat("0", 26-len(name)) }

func name(id string) string { return strings.ToLower(strings.TrimRight(id, "0")) }

func TestImpact(t *testing.T) {
	g := impactGraph(t)
	cases := []struct {
		name  string
		start string
		o     cmdb.ImpactOptions
		// want lists "name@depth via path..." in result order
		want []string
	}{
		{"downstream of a disk", "disk", cmdb.ImpactOptions{Direction: cmdb.Downstream},
			[]string{"host@1 contains disk>host", "pg@2 runs_on disk>host>pg", "web@3 depends_on disk>host>pg>web"}},
		{"deeper reaches the business service and the cycle", "disk", cmdb.ImpactOptions{Direction: cmdb.Downstream, Depth: 5},
			[]string{"host@1 contains disk>host", "pg@2 runs_on disk>host>pg", "web@3 depends_on disk>host>pg>web",
				"shop@4 provides disk>host>pg>web>shop", "cache@4 depends_on disk>host>pg>web>cache"}},
		{"upstream of the shop", "shop", cmdb.ImpactOptions{Direction: cmdb.Upstream},
			[]string{"web@1 provides shop>web", "cache@2 depends_on shop>web>cache", "pg@2 depends_on shop>web>pg", "host@3 runs_on shop>web>pg>host"}},
		{"type filter", "host", cmdb.ImpactOptions{Direction: cmdb.Downstream, Types: []string{cmdb.RelRunsOn}},
			[]string{"pg@1 runs_on host>pg"}},
		{"both directions at depth 1", "pg", cmdb.ImpactOptions{Direction: cmdb.Both, Depth: 1},
			[]string{"host@1 runs_on pg>host", "web@1 depends_on pg>web"}},
		{"class filter passes through other classes", "disk", cmdb.ImpactOptions{Direction: cmdb.Downstream, Depth: 5, Classes: []string{cmdb.ClassService}},
			[]string{"pg@2 runs_on disk>host>pg", "shop@4 provides disk>host>pg>web>shop", "cache@4 depends_on disk>host>pg>web>cache"}},
		{"unlisted types only when named", "web", cmdb.ImpactOptions{Direction: cmdb.Upstream, Types: []string{cmdb.RelConnectsTo}},
			[]string{"lb@1 connects_to web>lb"}},
		{"limit truncates", "disk", cmdb.ImpactOptions{Direction: cmdb.Downstream, Limit: 2},
			[]string{"host@1 contains disk>host", "pg@2 runs_on disk>host>pg"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := g.Impact(context.Background(), []string{id(tc.start)}, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, n := range res.Nodes {
				var path []string
				for _, p := range n.Path {
					path = append(path, name(p))
				}
				got = append(got, name(n.ID)+"@"+string(rune('0'+n.Depth))+" "+n.Via+" "+strings.Join(path, ">"))
			}
			// Within one depth the order follows key order; compare as sets per depth.
			slices.Sort(got)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("got  %q\nwant %q", got, want)
			}
			if tc.o.Limit > 0 && !res.Truncated {
				t.Error("limit reached but not reported truncated")
			}
			total := 0
			for _, n := range res.Count {
				total += n
			}
			if total != len(res.Nodes) {
				t.Errorf("counts %v for %d nodes", res.Count, len(res.Nodes))
			}
		})
	}
}

func TestImpactRejectsBadInput(t *testing.T) {
	g := impactGraph(t)
	cases := []struct {
		name  string
		start []string
		o     cmdb.ImpactOptions
		want  error
	}{
		{"unknown direction", []string{id("web")}, cmdb.ImpactOptions{Direction: "sideways"}, cmdb.ErrInvalid},
		{"too deep", []string{id("web")}, cmdb.ImpactOptions{Depth: 11}, cmdb.ErrInvalid},
		{"unknown start", []string{id("nothing")}, cmdb.ImpactOptions{}, cmdb.ErrNotFound},
		{"no start", nil, cmdb.ImpactOptions{}, cmdb.ErrInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := g.Impact(context.Background(), tc.start, tc.o); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

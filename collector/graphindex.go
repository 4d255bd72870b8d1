package collector

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"parc/cmdb"
)

// graphIndexJob runs the graph's in-memory index, from which traversals
// (impact, change analysis) are answered, and exports its state. It is not
// a singleton: every collector answers its own API calls.
func graphIndexJob(graph *cmdb.Graph, reg prometheus.Registerer, log *slog.Logger) Job {
	stat := func(f func(cmdb.IndexStats) float64) func() float64 {
		return func() float64 { return f(graph.IndexStats()) }
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "parc_graph_index_ready",
			Help: "1 while the in-memory graph index is built and following the change feed.",
		}, stat(func(s cmdb.IndexStats) float64 {
			if s.State == "ready" {
				return 1
			}
			return 0
		})),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "parc_graph_index_bytes",
			Help: "Estimated memory held by the in-memory graph index.",
		}, stat(func(s cmdb.IndexStats) float64 { return float64(s.Bytes) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "parc_graph_index_reads_total",
			Help: "Graph reads (traversals, CI heads) answered from the in-memory index.",
		}, stat(func(s cmdb.IndexStats) float64 { return float64(s.Hits) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "parc_graph_index_fallbacks_total",
			Help: "Graph reads that read the store because the index was building, behind, or missing a CI.",
		}, stat(func(s cmdb.IndexStats) float64 { return float64(s.Fallbacks) })),
	)
	return Job{Name: "graph-index", Run: func(ctx context.Context) error {
		return graph.RunIndex(ctx, cmdb.IndexOptions{Logger: log})
	}}
}

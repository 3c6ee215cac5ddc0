package statussync

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector reports the watchers this process runs: one series per cluster it holds, so
// the sum over replicas of shepherd_cluster_watcher is 1 per cluster when all is well.
type Collector struct {
	s                         *Syncer
	watching, healthy, behind *prometheus.Desc
}

// NewCollector exposes the Syncer's watchers to Prometheus.
func NewCollector(s *Syncer) *Collector {
	return &Collector{
		s:        s,
		watching: prometheus.NewDesc("shepherd_cluster_watcher", "1 for each cluster whose status watcher runs in this process.", []string{"cluster"}, nil),
		healthy:  prometheus.NewDesc("shepherd_cluster_watcher_healthy", "1 when the cluster's watcher listed and is watching, 0 while it retries.", []string{"cluster"}, nil),
		behind: prometheus.NewDesc("shepherd_cluster_watcher_staleness_seconds",
			"Seconds since the watcher's last successful list, event or heartbeat.", []string{"cluster"}, nil),
	}
}

func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.watching
	ch <- c.healthy
	ch <- c.behind
}

func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	for _, st := range c.s.States() {
		ch <- prometheus.MustNewConstMetric(c.watching, prometheus.GaugeValue, 1, st.Name)
		healthy := 0.0
		if st.Healthy {
			healthy = 1
		}
		ch <- prometheus.MustNewConstMetric(c.healthy, prometheus.GaugeValue, healthy, st.Name)
		if !st.LastHeartbeat.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.behind, prometheus.GaugeValue, now.Sub(st.LastHeartbeat).Seconds(), st.Name)
		}
	}
}

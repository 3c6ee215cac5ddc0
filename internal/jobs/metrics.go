// Package jobs holds River wiring shared by the job packages (one job per sub-package).
package jobs

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

var jobStates = []string{"available", "cancelled", "completed", "discarded", "pending", "retryable", "running", "scheduled"}

// QueueCollector exports River job counts by queue and state at scrape time.
type QueueCollector struct {
	pool *pgxpool.Pool
	desc *prometheus.Desc
}

// NewQueueCollector reads river_job on each scrape (an index-only aggregate).
func NewQueueCollector(pool *pgxpool.Pool) *QueueCollector {
	return &QueueCollector{pool: pool, desc: prometheus.NewDesc("shepherd_river_jobs",
		"River jobs by queue and state.", []string{"queue", "state"}, nil)}
}

func (c *QueueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *QueueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	rows, err := c.pool.Query(ctx, "SELECT queue, state::text, count(*) FROM river_job GROUP BY 1, 2")
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	defer rows.Close()
	// Every state of the default queue is reported, zero included, so dashboards and
	// alerts see a series before the first job of that state exists.
	counts := map[[2]string]int64{}
	for _, s := range jobStates {
		counts[[2]string{"default", s}] = 0
	}
	for rows.Next() {
		var queue, state string
		var n int64
		if err := rows.Scan(&queue, &state, &n); err != nil {
			ch <- prometheus.NewInvalidMetric(c.desc, err)
			return
		}
		counts[[2]string{queue, state}] = n
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), k[0], k[1])
	}
}

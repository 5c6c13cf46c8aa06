package serve

import (
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the service's Prometheus metrics, in a registry of their own
// (so that tests may run several services in one process).
type Metrics struct {
	Registry *prometheus.Registry

	Batches       *prometheus.CounterVec // per input
	Records       *prometheus.CounterVec // per input
	Bytes         *prometheus.CounterVec // per input: decompressed bytes scanned
	InputErrors   *prometheus.CounterVec // per input: records or regions not evaluated
	InputWarnings *prometheus.CounterVec // per input: records read despite a problem
	InputSkipped  *prometheus.CounterVec // per input and kind: JSON documents read that are not CloudTrail events
	InputFuture   *prometheus.CounterVec // per input: records whose event time is too far ahead of the clock
	Rejected      *prometheus.CounterVec // HTTP ingest answers other than 202, per status
	Pending       prometheus.Gauge       // batches scanned, not yet acknowledged
	Waiting       prometheus.Gauge       // workers stopped until the checkpoint catches up (back-pressure)
	Watermark     prometheus.Gauge       // the watermark, Unix seconds
	WatermarkLag  prometheus.Gauge       // wall time minus the watermark, seconds
	Horizon       prometheus.Gauge       // the earliest record time not yet acknowledgeable, Unix seconds
	Alerts        *prometheus.CounterVec // per rule
	Late          prometheus.Gauge       // matches that came after the watermark had passed them
	Duplicates    prometheus.Gauge       // matches of a record seen before (delivered twice, or replayed)
	Known         prometheus.Gauge       // alerts raised before (state): replays after a restart
	Latency       prometheus.Histogram   // event time to alert delivery, seconds
	Checkpoints   prometheus.Counter
	StoreRetries  prometheus.Counter // state commits that failed and were retried
	CheckpointDur prometheus.Histogram
	Acked         *prometheus.CounterVec // batches acknowledged, per input
	SinkAlerts    *prometheus.CounterVec // alerts delivered, per sink
	SinkRetries   *prometheus.CounterVec // failed attempts retried, per sink
	SinkDropped   *prometheus.CounterVec // alerts the sink refused for good (mapping errors), per sink
	OutboxDepth   *prometheus.GaugeVec   // alerts waiting in the outbox, per sink
	OutboxBytes   *prometheus.GaugeVec   // bytes waiting in the outbox, per sink
}

// NewMetrics registers the service's metrics (and Go and process metrics)
// in a new registry.
func NewMetrics() *Metrics {
	r := prometheus.NewRegistry()
	f := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "trailhound", Name: name, Help: help}, labels)
		r.MustRegister(c)
		return c
	}
	g := func(name, help string) prometheus.Gauge {
		x := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "trailhound", Name: name, Help: help})
		r.MustRegister(x)
		return x
	}
	gv := func(name, help string, labels ...string) *prometheus.GaugeVec {
		x := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "trailhound", Name: name, Help: help}, labels)
		r.MustRegister(x)
		return x
	}
	m := &Metrics{
		Registry:      r,
		Batches:       f("input_batches_total", "Batches (bodies, messages, objects) received, per input.", "input"),
		Records:       f("input_records_total", "CloudTrail records evaluated, per input.", "input"),
		Bytes:         f("input_bytes_total", "Decompressed bytes scanned, per input.", "input"),
		InputErrors:   f("input_errors_total", "Input errors (a record or region not evaluated), per input.", "input"),
		InputWarnings: f("input_warnings_total", "Input warnings (the record was still evaluated), per input.", "input"),
		InputSkipped: f("input_skipped_total", "JSON documents read that are not CloudTrail events (kind other) or are CloudTrail digests (kind digest), and batches with nothing in them (kind empty), per input; each batch is logged.",
			"input", "kind"),
		InputFuture: f("input_future_total", "Records whose event time is more than max_future ahead of the wall clock, per input: they do not move the watermark; rules that need no event time ran on them at the time they were received, the others skipped them; each is logged.",
			"input"),
		Rejected:     f("http_rejected_total", "HTTP ingest requests refused, per status code.", "code"),
		Pending:      g("pending_batches", "Batches evaluated and not yet acknowledged to their input (their records' windows are still open)."),
		Waiting:      g("workers_waiting", "Workers stopped until a checkpoint takes what was read (a sink's outbox is full, or the state store is slow): back-pressure on the inputs."),
		Watermark:    g("watermark_seconds", "The watermark: the event time up to which alerts are decided (Unix seconds)."),
		WatermarkLag: g("watermark_lag_seconds", "Wall-clock time minus the watermark."),
		Horizon:      g("horizon_seconds", "The earliest event time the committed state may not hold (Unix seconds); batches all earlier are acknowledged."),
		Alerts:       f("alerts_total", "Alerts raised, per rule.", "rule"),
		Late:         g("late_matches", "Rule matches of records older than the watermark when they came (used where their window was still open), since the start."),
		Duplicates:   g("duplicate_matches", "Rule matches of a record already seen (delivered twice, or replayed), since the start."),
		Known:        g("known_alerts", "Alerts found raised already (replays after a restart), since the start."),
		Latency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "trailhound", Name: "alert_latency_seconds",
			Help: "Event time to alert decision (wall clock).", Buckets: prometheus.ExponentialBuckets(1, 4, 12)}),
		Checkpoints: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "trailhound", Name: "checkpoints_total", Help: "State commits."}),
		CheckpointDur: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "trailhound", Name: "checkpoint_seconds",
			Help: "Advance, delivery to the sinks' outboxes and state commit, per checkpoint.", Buckets: prometheus.DefBuckets}),
		Acked:       f("input_acked_total", "Batches acknowledged to their input (alerts delivered, state committed), per input.", "input"),
		SinkAlerts:  f("sink_alerts_total", "Alerts delivered, per sink.", "sink"),
		SinkRetries: f("sink_retries_total", "Failed delivery attempts that were retried, per sink.", "sink"),
		SinkDropped: f("sink_dropped_total", "Alerts a sink refused for good (e.g. Elasticsearch mapping errors), per sink; each is logged.", "sink"),
		OutboxDepth: gv("outbox_alerts", "Alerts in a sink's on-disk outbox, not yet delivered.", "sink"),
		OutboxBytes: gv("outbox_bytes", "Bytes in a sink's on-disk outbox.", "sink"),
	}
	m.StoreRetries = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "trailhound", Name: "state_commit_retries_total",
		Help: "State commits that failed (the store unreachable) and were retried; each is logged."})
	r.MustRegister(m.Latency, m.Checkpoints, m.CheckpointDur, m.StoreRetries,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// StateFile adds trailhound_state_bytes, the size of the state file at path.
func (m *Metrics) StateFile(path string) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "trailhound", Name: "state_bytes",
		Help: "Size of the state file (bbolt) on disk."}, func() float64 {
		fi, err := os.Stat(path)
		if err != nil {
			return 0
		}
		return float64(fi.Size())
	}))
}

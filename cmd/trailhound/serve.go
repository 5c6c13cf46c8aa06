package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trailhound/trailhound/elastic"
	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/hunt"
	"github.com/trailhound/trailhound/ledger"
	"github.com/trailhound/trailhound/s3trail"
	"github.com/trailhound/trailhound/serve"
	"github.com/trailhound/trailhound/sqsinput"
	"github.com/trailhound/trailhound/state"
)

func newServe() *cobra.Command {
	var (
		configPath string
		listen     string
		tokenFile  string
		outPath    string
		statePath  string
		rulePaths  []string
		lateness   time.Duration
		interval   time.Duration
		idle       time.Duration
		maxFuture  time.Duration
		storeRetry time.Duration
		workers    int
		maxBody    string
		maxUnzip   string
		readWait   time.Duration
		tlsCert    string
		tlsKey     string
		brokers    []string
		topic      string
		group      string
		sqsURL     string
		dlqURL     string
		sqsEnd     string
		s3End      string
		pollURL    string
		pollFrom   string
		pollEvery  time.Duration
		logLevel   string
		geo        *geoFlags
	)
	cmd := &cobra.Command{
		Use:   "serve [flags]",
		Short: "Run rules continuously over CloudTrail as it arrives (HTTP ingest, Kafka, S3 notifications on SQS, S3 polling) and deliver alerts to sinks",
		Long: `Run rules continuously: inputs (HTTP ingest POST /v1/records, Kafka, SQS, S3 polling) deliver
CloudTrail records; alerts are decided as event time passes (the inputs'
latest event time less --lateness) and delivered to the sinks (JSON Lines
file, Elasticsearch bulk, webhook); then the state is committed and only then
are inputs acknowledged (spool file deleted, Kafka offset committed, SQS
message deleted). A crash replays what was not acknowledged: alerts are
delivered at least once, with stable ids. SIGTERM/SIGINT drain: stop receiving, finish what is in
flight, deliver, checkpoint, exit 0. SIGHUP reloads the rules (a drain and a
start with the rules read anew). Alerts whose windows are still open
wait for later records (the input holding them is not acknowledged), or with
--idle for the wall clock.

The config file (--config serve.yaml, see testdata/serve.yaml) holds inputs,
rules, state and sinks; flags override it. /metrics, /healthz and /readyz are
served on --listen.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg := &serve.Config{}
			if configPath != "" {
				var err error
				if cfg, err = serve.LoadConfig(configPath); err != nil {
					return usageError(err)
				}
			}
			f := cmd.Flags()
			if f.Changed("state") || cfg.State == "" {
				cfg.State = statePath
			}
			if cfg.State == "" {
				return usageError(errors.New("serve needs --state FILE or redis://HOST:PORT/DB (or state: in the config): the rule state and what was delivered live there"))
			}
			if f.Changed("rules") {
				cfg.Rules = rulePaths
			}
			if f.Changed("lateness") || cfg.Lateness == 0 {
				cfg.Lateness = lateness
			}
			if cfg.Lateness <= 0 {
				return usageError(fmt.Errorf("--lateness must be positive, not %s", cfg.Lateness))
			}
			if f.Changed("checkpoint-interval") || cfg.Interval == 0 {
				cfg.Interval = interval
			}
			if cfg.Interval < 0 {
				return usageError(fmt.Errorf("--checkpoint-interval (checkpoint_interval) must be positive, not %s", cfg.Interval))
			}
			if f.Changed("idle") {
				cfg.Idle = idle
			}
			if cfg.Idle < 0 {
				return usageError(fmt.Errorf("--idle must be 0 (off) or positive, not %s", cfg.Idle))
			}
			if f.Changed("max-future") || cfg.MaxFuture == 0 {
				cfg.MaxFuture = maxFuture
			}
			if f.Changed("store-retry") || cfg.StoreRetry == 0 {
				cfg.StoreRetry = storeRetry
			}
			if maxUnzip != "" {
				cfg.MaxDecompressed = maxUnzip
			}
			if f.Changed("workers") {
				cfg.Workers = workers
			}
			if cfg.Workers < 0 {
				return usageError(fmt.Errorf("--workers (workers) must be 0 (one per CPU) or more, not %d", cfg.Workers))
			}
			if geo.dir == "" {
				geo.dir = cfg.GeoIPDir
			}
			if listen != "" || tokenFile != "" || maxBody != "" || readWait != 0 || tlsCert != "" {
				if cfg.HTTP == nil {
					cfg.HTTP = &serve.HTTPConfig{}
				}
				if listen != "" {
					cfg.HTTP.Listen = listen
				}
				if tokenFile != "" {
					cfg.HTTP.TokenFile = tokenFile
				}
				if maxBody != "" {
					cfg.HTTP.MaxBody = maxBody
				}
				if readWait != 0 {
					cfg.HTTP.ReadTimeout = readWait
				}
				if tlsCert != "" {
					cfg.HTTP.TLSCert, cfg.HTTP.TLSKey = tlsCert, tlsKey
				}
			}
			if len(brokers) > 0 || topic != "" {
				if cfg.Kafka == nil {
					cfg.Kafka = &serve.KafkaConfig{}
				}
				if len(brokers) > 0 {
					cfg.Kafka.Brokers = brokers
				}
				if topic != "" {
					cfg.Kafka.Topic = topic
				}
			}
			if group != "" && cfg.Kafka != nil {
				cfg.Kafka.Group = group
			}
			if sqsURL != "" {
				if cfg.SQS == nil {
					cfg.SQS = &serve.SQSConfig{}
				}
				cfg.SQS.QueueURL = sqsURL
			}
			if q := cfg.SQS; q != nil {
				if dlqURL != "" {
					q.DLQURL = dlqURL
				}
				if sqsEnd != "" {
					q.Endpoint = sqsEnd
				}
				if s3End != "" {
					q.S3Endpoint = s3End
				}
				if q.Ledger == "" && !state.IsRedisURL(cfg.State) {
					q.Ledger = cfg.State + ".ledger"
				}
			} else if dlqURL != "" || sqsEnd != "" {
				return usageError(errors.New("--sqs-dlq-url and --sqs-endpoint go with --sqs-queue-url (or an sqs section in the config)"))
			}
			if pollURL != "" {
				if cfg.S3Poll == nil {
					cfg.S3Poll = &serve.S3PollConfig{}
				}
				cfg.S3Poll.URL = pollURL
			}
			if sp := cfg.S3Poll; sp != nil {
				if pollFrom != "" {
					sp.From = pollFrom
				}
				if f.Changed("poll-interval") {
					sp.Interval = pollEvery
				}
				if s3End != "" {
					sp.Endpoint = s3End
				}
				if sp.Ledger == "" {
					sp.Ledger = cfg.State + ".ledger"
				}
				if err := sp.Check(); err != nil {
					return usageError(fmt.Errorf("s3 polling: %w", err))
				}
			} else if pollFrom != "" || f.Changed("poll-interval") {
				return usageError(errors.New("--from and --poll-interval go with --s3-poll (or an s3_poll section in the config)"))
			}
			if s3End != "" && cfg.SQS == nil && cfg.S3Poll == nil {
				return usageError(errors.New("--s3-endpoint goes with --sqs-queue-url or --s3-poll"))
			}
			if outPath != "" {
				cfg.Sinks = append([]serve.SinkConfig{{Type: "jsonl", Name: "out", Path: outPath}}, cfg.Sinks...)
			}
			if len(cfg.Sinks) == 0 {
				cfg.Sinks = []serve.SinkConfig{{Type: "jsonl", Name: "stdout", Path: "-"}}
			}
			if cfg.HTTP == nil && cfg.Kafka == nil && cfg.SQS == nil && cfg.S3Poll == nil {
				return usageError(errors.New("no input: give --listen (HTTP ingest), --kafka-brokers and --kafka-topic, --sqs-queue-url or --s3-poll, or a config with an http, kafka, sqs or s3_poll section"))
			}
			if err := localPaths(cfg); err != nil {
				return usageError(err)
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return usageError(fmt.Errorf("--log-level: %w", err))
			}
			log := slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			slog.SetDefault(log) // libraries that log through the default (go-redis's dial retries) log JSON too

			m := serve.NewMetrics()
			if !state.IsRedisURL(cfg.State) {
				m.StateFile(cfg.State)
			}
			var prev map[string]bool
			for {
				// SIGHUP: drain, then start again with the rules read anew; the
				// inputs deliver again what was not acknowledged
				hup := make(chan os.Signal, 1)
				signal.Notify(hup, syscall.SIGHUP)
				runCtx, stop := context.WithCancel(ctx)
				var reload atomic.Bool
				go func() {
					for {
						select {
						case <-hup:
							// rules that do not load keep the service as it is
							if _, _, err := loadRunRules(cfg.Rules, nil); err != nil {
								log.Error("SIGHUP: the rules do not load; serving on with the ones running", "error", err.Error())
								continue
							}
							reload.Store(true)
							stop()
						case <-runCtx.Done():
						}
						return
					}
				}()
				keys, err := serveOnce(runCtx, cfg, geo, raw(cmd.OutOrStdout()), log, m, prev)
				signal.Stop(hup)
				stop()
				if err != nil {
					return err
				}
				if !reload.Load() || ctx.Err() != nil {
					return nil
				}
				log.Info("SIGHUP: reloading the rules")
				prev = keys
			}
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "", "YAML config (see testdata/serve.yaml); flags override it")
	f.StringVar(&listen, "listen", "", "HTTP address for ingest (POST /v1/records), /metrics, /healthz and /readyz, e.g. 127.0.0.1:8080")
	f.StringVar(&tokenFile, "token-file", "", "bearer tokens accepted by HTTP ingest, one a line")
	f.StringVar(&maxBody, "max-body", "", "largest HTTP ingest body (default 64MB); larger ones get 413")
	f.StringVar(&maxUnzip, "max-decompressed", "", "most a gzip batch may decompress to (default 1GB): an HTTP body over it gets 413, the rest of a Kafka message or S3 object is not read (an input error)")
	f.DurationVar(&readWait, "read-timeout", 0, "how long an HTTP ingest body may take, plus a second per 64 KB received (default 1m); a slower one gets 408 and its connection closed")
	f.StringVar(&tlsCert, "tls-cert", "", "serve HTTPS with this certificate (PEM; with --tls-key)")
	f.StringVar(&tlsKey, "tls-key", "", "the --tls-cert key (PEM)")
	f.StringVar(&outPath, "out", "", "append alerts as JSON Lines to this file ('-': stdout; the default when no sink is configured)")
	f.StringVar(&statePath, "state", "", "the state file (bbolt; the HTTP spool, sink outboxes and SQS ledger go beside it: FILE.spool, FILE.outbox, FILE.ledger), or redis://[user:password@]host:port/db (rediss:// for TLS) shared by several instances (the spool, outbox and ledger are then given in the config)")
	f.StringSliceVarP(&rulePaths, "rules", "r", nil, "rule files or folders (repeatable; default: the built-in rules)")
	f.DurationVar(&lateness, "lateness", hunt.DefaultLateness, "how much older than an input's latest event time a record may be and still be on time")
	f.DurationVar(&interval, "checkpoint-interval", time.Second, "how often alerts are decided and delivered, the state committed and inputs acknowledged")
	f.DurationVar(&idle, "idle", 0, "after an input has been quiet this long, let its event time follow the wall clock so open windows close (0: off; later records older than that are late)")
	f.DurationVar(&maxFuture, "max-future", serve.DefaultMaxFuture, "records with an event time further ahead of the wall clock do not move the watermark (rules that need no event time run on them at the time received, the others skip them; counted and logged); negative: no bound")
	f.DurationVar(&storeRetry, "store-retry", serve.DefaultStoreRetry, "how long a checkpoint retries a state commit that fails (Redis restarting), acknowledging nothing meanwhile, before serve stops; negative: no retry")
	f.IntVarP(&workers, "workers", "w", 0, "batches evaluated in parallel (default 0: one per CPU)")
	f.StringSliceVar(&brokers, "kafka-brokers", nil, "Kafka seed brokers (host:port, comma-separated)")
	f.StringVar(&topic, "kafka-topic", "", "Kafka topic of CloudTrail records or delivery files")
	f.StringVar(&group, "kafka-group", "", "Kafka consumer group (default trailhound)")
	f.StringVar(&sqsURL, "sqs-queue-url", "", "SQS queue of S3 notifications of new CloudTrail objects (AWS credentials and region from the default chain)")
	f.StringVar(&dlqURL, "sqs-dlq-url", "", "SQS queue that receives poison messages (default: they are only logged)")
	f.StringVar(&sqsEnd, "sqs-endpoint", "", "URL of an SQS-compatible server (default: AWS)")
	f.StringVar(&s3End, "s3-endpoint", "", "URL of an S3-compatible store the SQS and S3 polling inputs read (path-style; default: AWS)")
	f.StringVar(&pollURL, "s3-poll", "", "poll s3://bucket[/trail-prefix] where CloudTrail delivers, listing each account/region after its last position (AWS credentials and region from the default chain)")
	f.StringVar(&pollFrom, "from", "", "with --s3-poll: the first day (YYYY-MM-DD) read of an account/region never read before (default: today)")
	f.DurationVar(&pollEvery, "poll-interval", time.Minute, "with --s3-poll: the pause between listings that found nothing new")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error (JSON logs on stderr)")
	geo = addGeoFlags(f)
	return cmd
}

// serveOnce loads the rules, opens the state, sinks and inputs, and serves
// until ctx ends. It returns the rule keys loaded (reported against prev,
// those of the run before a reload).
func serveOnce(ctx context.Context, cfg *serve.Config, geo *geoFlags, stdout io.Writer, log *slog.Logger, m *serve.Metrics, prev map[string]bool) (map[string]bool, error) {
	rules, ruleErrs, err := loadRunRules(cfg.Rules, nil)
	if err != nil {
		return nil, err
	}
	for _, e := range ruleErrs {
		log.Warn("rule error", "error", e.Error())
	}
	db, err := geo.openFor(rules)
	if err != nil {
		return nil, err
	}
	if db != nil {
		defer db.Close()
	}
	keys := map[string]bool{}
	for _, r := range rules {
		if r.Runnable() {
			keys[r.Key()] = true
		}
	}
	if prev != nil {
		var added, removed []string
		for k := range keys {
			if !prev[k] {
				added = append(added, k)
			}
		}
		for k := range prev {
			if !keys[k] {
				removed = append(removed, k)
			}
		}
		slices.Sort(added)
		slices.Sort(removed)
		log.Info("rules reloaded", "running", len(keys), "added", added, "removed", removed, "errors", len(ruleErrs))
	}
	eng, err := engine.Compile(rules)
	if err != nil {
		return nil, &exitError{exitErrors, err}
	}
	for _, path := range cfg.Exceptions {
		conds, err := elastic.LoadExceptions(path)
		if err != nil {
			return nil, &exitError{exitErrors, fmt.Errorf("exceptions: %w", err)}
		}
		if err := eng.AddExceptions(conds); err != nil {
			return nil, &exitError{exitErrors, fmt.Errorf("exceptions %s: %w", path, err)}
		}
	}
	st, err := openState(ctx, cfg.State)
	if err != nil {
		return nil, stateOpenError(err)
	}
	defer st.Close()
	outs, err := cfg.OpenOutputs(stdout, m, log)
	if err != nil {
		return nil, &exitError{exitErrors, err}
	}
	var maxUnzip int64 // 0: the default
	if cfg.MaxDecompressed != "" {
		if maxUnzip, err = serve.ParseBytes(cfg.MaxDecompressed); err != nil {
			return nil, usageError(fmt.Errorf("max decompressed: %w", err))
		}
	}
	var ready atomic.Bool
	var inputs []serve.Input
	if h := cfg.HTTP; h != nil {
		in := &serve.HTTPInput{Addr: h.Listen, Tokens: h.Tokens, CertFile: h.TLSCert, KeyFile: h.TLSKey, SpoolDir: cfg.Spool, Metrics: m, Log: log,
			Ready: func() error {
				if !ready.Load() {
					return errors.New("starting")
				}
				for _, in := range inputs {
					if r, ok := in.(serve.Readier); ok {
						if err := r.Ready(); err != nil {
							return fmt.Errorf("%s: %w", in.Name(), err)
						}
					}
				}
				return nil
			}}
		if in.Addr == "" {
			return nil, usageError(errors.New("http: listen is needed"))
		}
		if h.TokenFile != "" {
			toks, err := serve.ReadTokens(h.TokenFile)
			if err != nil {
				return nil, usageError(err)
			}
			in.Tokens = append(in.Tokens, toks...)
		}
		if h.MaxBody != "" {
			if in.MaxBody, err = serve.ParseBytes(h.MaxBody); err != nil {
				return nil, usageError(fmt.Errorf("max body: %w", err))
			}
		}
		in.MaxDecompressed = maxUnzip
		if h.ReadTimeout < 0 {
			return nil, usageError(fmt.Errorf("--read-timeout (http.read_timeout) must be positive, not %s", h.ReadTimeout))
		}
		in.ReadTimeout = h.ReadTimeout
		if (h.TLSCert == "") != (h.TLSKey == "") {
			return nil, usageError(errors.New("TLS needs both a certificate and a key file"))
		}
		if len(in.Tokens) == 0 {
			log.Warn("no ingest token configured: POST /v1/records refuses every request (403); /metrics and health are served")
		}
		if err := in.Listen(); err != nil {
			return nil, &exitError{exitErrors, err}
		}
		log.Info("listening", "addr", in.ListenAddr(), "tls", h.TLSCert != "")
		inputs = append(inputs, in)
	}
	if k := cfg.Kafka; k != nil {
		if len(k.Brokers) == 0 || k.Topic == "" {
			return nil, usageError(errors.New("kafka needs brokers and a topic"))
		}
		in := &serve.KafkaInput{Brokers: k.Brokers, Topic: k.Topic, Group: k.Group, Log: log}
		if k.SessionTimeout > 0 {
			in.Opts = append(in.Opts, kgo.SessionTimeout(k.SessionTimeout))
		}
		if k.RebalanceTimeout > 0 {
			in.Opts = append(in.Opts, kgo.RebalanceTimeout(k.RebalanceTimeout))
		}
		if err := in.Open(); err != nil {
			return nil, &exitError{exitErrors, err}
		}
		inputs = append(inputs, in)
	}
	ledgers := map[string]*ledger.Ledger{} // one per file: the SQS and polling inputs may share one
	defer func() {
		for _, l := range ledgers {
			l.Close()
		}
	}()
	openLedger := func(path string) (*ledger.Ledger, error) {
		if l := ledgers[path]; l != nil {
			return l, nil
		}
		l, err := ledger.Open(path, 0)
		if err != nil {
			return nil, err
		}
		ledgers[path] = l
		return l, nil
	}
	if q := cfg.SQS; q != nil {
		l, err := openLedger(q.Ledger)
		if err != nil {
			return nil, &exitError{exitErrors, fmt.Errorf("sqs: %w", err)}
		}
		in, err := openSQS(ctx, q, l, log)
		if err != nil {
			return nil, &exitError{exitErrors, err}
		}
		defer in.Close() // serve.Run closes it; this is for a failed start
		inputs = append(inputs, in)
	}
	if sp := cfg.S3Poll; sp != nil {
		l, err := openLedger(sp.Ledger)
		if err != nil {
			return nil, &exitError{exitErrors, fmt.Errorf("s3 polling: %w", err)}
		}
		in, err := openS3Poll(ctx, sp, l, cfg.Lateness, log)
		if err != nil {
			return nil, &exitError{exitErrors, err}
		}
		defer in.Close() // serve.Run closes it; this is for a failed start
		inputs = append(inputs, in)
	}
	var names []string
	for _, o := range outs {
		names = append(names, o.Name)
	}
	log.Info("serving", "rules", len(eng.Rules()), "state", state.Redact(cfg.State), "sinks", strings.Join(names, ","), "lateness", cfg.Lateness.String())
	err = serve.Run(ctx, serve.Options{
		Engine: eng, Store: st, Inputs: inputs, Outputs: outs, Lateness: cfg.Lateness, Interval: cfg.Interval, MaxFuture: cfg.MaxFuture, StoreRetry: cfg.StoreRetry, MaxDecompressed: maxUnzip,
		Workers: cfg.Workers, Idle: cfg.Idle, GeoIP: db, NoEntityMapping: geo.noEntityMapping, Metrics: m, Log: log,
		Ready: func() { ready.Store(true) },
	})
	if err != nil {
		return nil, &exitError{exitErrors, err}
	}
	return keys, nil
}

// localPaths fills in the spool and outbox folders beside a state file.
// With the state in Redis they are this instance's own: the config must
// name the ones its inputs and sinks use.
func localPaths(cfg *serve.Config) error {
	if !state.IsRedisURL(cfg.State) {
		if cfg.Spool == "" {
			cfg.Spool = cfg.State + ".spool"
		}
		if cfg.Outbox == "" {
			cfg.Outbox = cfg.State + ".outbox"
		}
		return nil
	}
	if cfg.Spool == "" && cfg.HTTP != nil {
		return errors.New("with the state in Redis, give HTTP ingest a local spool folder (spool: in the config)")
	}
	for _, s := range cfg.Sinks {
		if cfg.Outbox == "" && s.Type != "jsonl" {
			return fmt.Errorf("with the state in Redis, give the %s sink's outbox a local folder (outbox: in the config)", s.Type)
		}
	}
	if q := cfg.SQS; q != nil && q.Ledger == "" {
		return errors.New("with the state in Redis, give the SQS object ledger a local file (sqs: ledger: in the config)")
	}
	return nil
}

// openSQS opens the SQS input: its ledger, the SQS and S3 clients and the
// consumer; a queue that cannot be read is an error here, at the start.
func openSQS(ctx context.Context, q *serve.SQSConfig, l *ledger.Ledger, log *slog.Logger) (*serve.SQSInput, error) {
	fail := func(err error) (*serve.SQSInput, error) {
		return nil, fmt.Errorf("sqs: %w", err)
	}
	sc, err := sqsinput.NewClient(ctx, q.Endpoint)
	if err != nil {
		return fail(err)
	}
	s3c, err := s3trail.NewClient(ctx, q.S3Endpoint)
	if err != nil {
		return fail(err)
	}
	c, err := sqsinput.New(sc, &s3trail.Reader{S3: s3c, Log: log}, l,
		sqsinput.Config{QueueURL: q.QueueURL, DLQURL: q.DLQURL, MaxReceive: q.MaxReceive, Visibility: q.Visibility}, log)
	if err != nil {
		return fail(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	info, err := c.Check(cctx)
	cancel()
	if err != nil {
		c.Close(context.Background())
		return fail(err)
	}
	log.Info("sqs: reading", "queue", q.QueueURL, "messages", info.Messages, "in_flight", info.InFlight, "ledger", q.Ledger)
	return &serve.SQSInput{Consumer: c, Log: log}, nil
}

// openS3Poll opens the S3 polling input; a bucket without CloudTrail's
// layout, or that cannot be listed, is an error here, at the start.
func openS3Poll(ctx context.Context, sp *serve.S3PollConfig, l *ledger.Ledger, lateness time.Duration, log *slog.Logger) (*serve.S3PollInput, error) {
	bucket, prefix, err := s3trail.ParseURL(sp.URL)
	if err != nil {
		return nil, fmt.Errorf("s3 polling: %w", err)
	}
	client, err := s3trail.NewClient(ctx, sp.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("s3 polling: %w", err)
	}
	r := &s3trail.Reader{S3: client, Log: log}
	if sp.Endpoint == "" {
		r.S3 = s3trail.ForBucket(ctx, client, bucket)
	}
	start, _ := sp.FromDay() // checked with the flags
	if start.IsZero() {
		start = time.Now().UTC().Truncate(24 * time.Hour)
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	prs, err := r.Discover(cctx, bucket, prefix)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("s3 polling: %w", err)
	}
	log.Info("s3 poll: reading", "url", sp.URL, "prefixes", len(prs), "from", start.Format("2006-01-02"), "ledger", sp.Ledger)
	p := &s3trail.Poller{Reader: r, Ledger: l, Bucket: bucket, Prefix: prefix, Start: start, Settle: sp.Settle, Interval: sp.Interval, Log: log}
	return &serve.S3PollInput{Poller: p, Lateness: lateness, Log: log}, nil
}

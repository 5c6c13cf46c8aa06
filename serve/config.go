package serve

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.yaml.in/yaml/v3"
)

// Config is serve.yaml: inputs, rules, state and sinks. Values may name
// environment variables as ${NAME} (for secrets); a variable that is not
// set is an error.
type Config struct {
	State      string        `yaml:"state"`               // the state file (bbolt) or a redis:// URL (rediss:// for TLS)
	Spool      string        `yaml:"spool"`               // HTTP ingest spool folder (default STATE.spool)
	Outbox     string        `yaml:"outbox"`              // sinks' outbox folders go in it (default STATE.outbox)
	Lateness   time.Duration `yaml:"lateness"`            // default 20m
	Interval   time.Duration `yaml:"checkpoint_interval"` // default 1s
	Idle       time.Duration `yaml:"idle"`                // a quiet input's event time follows the wall clock after this (0: off)
	MaxFuture  time.Duration `yaml:"max_future"`          // how far ahead of the clock an event time may be (default 5m; negative: no bound)
	StoreRetry time.Duration `yaml:"store_retry"`         // how long a failing state commit is retried (default 1m; negative: not retried)
	// MaxDecompressed bounds what a gzip batch decompresses to (default
	// 1GB): an HTTP body over it is refused (413), the rest of a Kafka
	// message or S3 object is not read (an input error).
	MaxDecompressed string        `yaml:"max_decompressed"`
	Workers         int           `yaml:"workers"`
	Rules           []string      `yaml:"rules"`      // rule files and folders (default: the built-in rules)
	Exceptions      []string      `yaml:"exceptions"` // Kibana exception-list exports
	GeoIPDir        string        `yaml:"geoip_dir"`
	HTTP            *HTTPConfig   `yaml:"http"`
	Kafka           *KafkaConfig  `yaml:"kafka"`
	SQS             *SQSConfig    `yaml:"sqs"`
	S3Poll          *S3PollConfig `yaml:"s3_poll"`
	Sinks           []SinkConfig  `yaml:"sinks"`
}

// HTTPConfig is the HTTP listener: ingest, metrics and health.
type HTTPConfig struct {
	Listen    string   `yaml:"listen"`
	Tokens    []string `yaml:"tokens"`
	TokenFile string   `yaml:"token_file"` // one token a line; # starts a comment
	MaxBody   string   `yaml:"max_body"`   // e.g. 64MB
	// ReadTimeout bounds the time a body may take, plus a second per 64 KB
	// received (default 1m).
	ReadTimeout time.Duration `yaml:"read_timeout"`
	TLSCert     string        `yaml:"tls_cert"`
	TLSKey      string        `yaml:"tls_key"`
}

// KafkaConfig is the Kafka input.
type KafkaConfig struct {
	Brokers []string `yaml:"brokers"`
	Topic   string   `yaml:"topic"`
	Group   string   `yaml:"group"`
	// SessionTimeout is the consumer group session timeout (default
	// 45s): after a crash, the partitions come back to a restarted
	// process once the old session has timed out.
	SessionTimeout time.Duration `yaml:"session_timeout"`
	// RebalanceTimeout bounds how long a rebalance waits for the group's
	// members to join and sync (default 1m): a member killed while it
	// joined holds the partitions back that long.
	RebalanceTimeout time.Duration `yaml:"rebalance_timeout"`
}

// SQSConfig is the SQS input: S3 notifications of new CloudTrail objects.
// AWS credentials and region come from the default chain (environment,
// shared files, SSO, instance or task role).
type SQSConfig struct {
	QueueURL   string        `yaml:"queue_url"`
	DLQURL     string        `yaml:"dlq_url"`     // poison messages go there too (default: only the log)
	MaxReceive int           `yaml:"max_receive"` // received more often: poison (default 5; negative: never)
	Visibility time.Duration `yaml:"visibility"`  // extended while a message is out (default 5m)
	Endpoint   string        `yaml:"endpoint"`    // an SQS-compatible server (default: AWS)
	S3Endpoint string        `yaml:"s3_endpoint"` // an S3-compatible store, path-style (default: AWS)
	Ledger     string        `yaml:"ledger"`      // the objects read (default STATE.ledger)
}

// SinkConfig is one sink.
type SinkConfig struct {
	Type        string            `yaml:"type"` // jsonl, elasticsearch, webhook, splunk, slack, kafka
	Name        string            `yaml:"name"` // default: the type (and a number when repeated)
	Path        string            `yaml:"path"` // jsonl: the file ("-": standard output)
	URL         string            `yaml:"url"`
	Index       string            `yaml:"index"`   // elasticsearch, splunk
	Token       string            `yaml:"token"`   // splunk: the HEC token
	Brokers     []string          `yaml:"brokers"` // kafka
	Topic       string            `yaml:"topic"`   // kafka
	SourceType  string            `yaml:"sourcetype"`
	APIKey      string            `yaml:"api_key"`
	Username    string            `yaml:"username"`
	Password    string            `yaml:"password"`
	Secret      string            `yaml:"secret"` // webhook: HMAC-SHA256 key
	Headers     map[string]string `yaml:"headers"`
	MinSeverity string            `yaml:"min_severity"`
	Tags        []string          `yaml:"tags"`
	OutboxMax   string            `yaml:"outbox_max"` // e.g. 1GB (default)
	Format      string            `yaml:"format"`     // alert (default) or ocsf (not for slack)
	MaxSize     string            `yaml:"max_size"`   // jsonl: rotate the file past this size (e.g. 100MB)
	MaxFiles    int               `yaml:"max_files"`  // jsonl: rotated files kept (default 5)
	Timeout     time.Duration     `yaml:"timeout"`    // outbox sinks: one delivery attempt (default 1m)
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// LoadConfig reads a config file, substituting ${NAME} references.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return ParseConfig(path, data, os.LookupEnv)
}

// ParseConfig parses a config, substituting ${NAME} from lookup. Errors
// name the file and line.
func ParseConfig(path string, data []byte, lookup func(string) (string, bool)) (*Config, error) {
	var missing []string
	for i, line := range bytes.Split(data, []byte("\n")) {
		if t := bytes.TrimSpace(line); bytes.HasPrefix(t, []byte("#")) {
			continue
		}
		for _, m := range envRef.FindAllSubmatch(line, -1) {
			if _, ok := lookup(string(m[1])); !ok {
				missing = append(missing, fmt.Sprintf("%s:%d: environment variable %s is not set", path, i+1, m[1]))
			}
		}
	}
	if len(missing) > 0 {
		return nil, errors.New(strings.Join(missing, "\n"))
	}
	data = envRef.ReplaceAllFunc(data, func(m []byte) []byte {
		v, _ := lookup(string(m[2 : len(m)-1]))
		return []byte(v)
	})
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	names := map[string]bool{}
	for i := range c.Sinks {
		s := &c.Sinks[i]
		where := fmt.Sprintf("%s: sinks[%d]", path, i)
		switch s.Type {
		case "jsonl":
			if s.Path == "" {
				return nil, fmt.Errorf("%s: jsonl needs path (a file, or - for standard output)", where)
			}
		case "elasticsearch", "webhook", "splunk", "slack":
			if s.URL == "" {
				return nil, fmt.Errorf("%s: %s needs url", where, s.Type)
			}
			if err := checkHTTPURL(s.URL); err != nil {
				return nil, fmt.Errorf("%s: url: %w", where, err)
			}
			if s.Type == "splunk" && s.Token == "" {
				return nil, fmt.Errorf("%s: splunk needs token (the HEC token)", where)
			}
		case "kafka":
			if len(s.Brokers) == 0 || s.Topic == "" {
				return nil, fmt.Errorf("%s: kafka needs brokers and topic", where)
			}
		default:
			return nil, fmt.Errorf("%s: type %q: want jsonl, elasticsearch, webhook, splunk, slack or kafka", where, s.Type)
		}
		if s.Timeout != 0 && (s.Type == "jsonl" || s.Timeout < 0) {
			return nil, fmt.Errorf("%s: timeout %v: for the sinks with an outbox, and positive", where, s.Timeout)
		}
		if err := checkRotation(s); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		sev, err := ParseSeverity(s.MinSeverity)
		if err != nil {
			return nil, fmt.Errorf("%s: min_severity: %w", where, err)
		}
		s.MinSeverity = sev
		if s.Name == "" {
			s.Name = s.Type
			for n := 2; names[s.Name]; n++ {
				s.Name = s.Type + strconv.Itoa(n)
			}
		}
		if _, err := ParseFormat(s.Format); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if s.Type == "slack" && s.Format != "" {
			return nil, fmt.Errorf("%s: slack sends messages; format does not apply", where)
		}
		if names[s.Name] {
			return nil, fmt.Errorf("%s: name %q used twice", where, s.Name)
		}
		names[s.Name] = true
		if _, err := ParseBytes(s.OutboxMax); s.OutboxMax != "" && err != nil {
			return nil, fmt.Errorf("%s: outbox_max: %w", where, err)
		}
	}
	if _, err := ParseBytes(c.MaxDecompressed); c.MaxDecompressed != "" && err != nil {
		return nil, fmt.Errorf("%s: max_decompressed: %w", path, err)
	}
	if c.SQS != nil && c.SQS.QueueURL == "" {
		return nil, fmt.Errorf("%s: sqs needs queue_url", path)
	}
	if err := c.S3Poll.Check(); err != nil {
		return nil, fmt.Errorf("%s: s3_poll: %w", path, err)
	}
	if c.HTTP != nil {
		for i, t := range c.HTTP.Tokens {
			if strings.TrimSpace(t) == "" {
				return nil, fmt.Errorf("%s: http.tokens[%d] is empty (an unset value in its ${NAME}?): no request could send it", path, i)
			}
		}
		if _, err := ParseBytes(c.HTTP.MaxBody); c.HTTP.MaxBody != "" && err != nil {
			return nil, fmt.Errorf("%s: http.max_body: %w", path, err)
		}
	}
	return &c, nil
}

// checkHTTPURL checks a sink's URL: absolute, http or https, with a host
// (a typo would otherwise surface only as deliveries retried forever).
func checkHTTPURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q: want an http:// or https:// URL", u.Redacted())
	}
	if u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("%q: no host", u.Redacted())
	}
	return nil
}

// ParseBytes parses sizes like 64MB, 512KB, 1GB or a byte count.
func ParseBytes(s string) (int64, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, x := range []struct {
		suf string
		m   int64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(u, x.suf) {
			u, mult = strings.TrimSuffix(u, x.suf), x.m
			break
		}
	}
	n, err := strconv.ParseInt(u, 10, 64)
	if err != nil || n <= 0 || strconv.FormatInt(n, 10) != u || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	return n * mult, nil
}

// ReadTokens reads a token file: one token a line, blank lines and lines
// starting with # ignored.
func ReadTokens(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	var toks []string
	for line := range strings.Lines(string(data)) {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		toks = append(toks, t)
	}
	if len(toks) == 0 {
		return nil, fmt.Errorf("token file %s holds no token", path)
	}
	return toks, nil
}

// OpenOutputs opens the configured sinks: JSON Lines files directly, the
// others behind an outbox in the Outbox folder.
func (c *Config) OpenOutputs(stdout io.Writer, m *Metrics, log *slog.Logger) ([]*Output, error) {
	var outs []*Output
	for _, s := range c.Sinks {
		out := &Output{Name: s.Name, Filter: Filter{MinSeverity: s.MinSeverity, Tags: s.Tags}}
		var sender Sender
		format, _ := ParseFormat(s.Format) // checked by ParseConfig; nil: the sink's default
		switch s.Type {
		case "jsonl":
			fs, err := OpenFileSink(s.Name, s.Path, stdout, m)
			if err != nil {
				return nil, err
			}
			fs.Format = format
			fs.Rotate.MaxFiles = s.MaxFiles
			if s.MaxSize != "" {
				fs.Rotate.MaxSize, _ = ParseBytes(s.MaxSize) // checked by ParseConfig
			}
			out.Deliverer = fs
		case "elasticsearch":
			sender = &Elasticsearch{URL: s.URL, Index: s.Index, APIKey: s.APIKey, Username: s.Username, Password: s.Password, Format: format}
		case "webhook":
			sender = &Webhook{URL: s.URL, Secret: s.Secret, Headers: s.Headers, Format: format}
		case "slack":
			sender = &Slack{URL: s.URL}
		case "kafka":
			ks, err := NewKafkaSink(s.Brokers, s.Topic, format, kgo.WithLogger(kafkaLog{log}))
			if err != nil {
				return nil, err
			}
			sender = ks
		case "splunk":
			sender = &SplunkHEC{URL: s.URL, Token: s.Token, Index: s.Index, SourceType: s.SourceType, Format: format}
		}
		if sender != nil {
			maxBytes := int64(0)
			if s.OutboxMax != "" {
				maxBytes, _ = ParseBytes(s.OutboxMax)
			}
			ob, err := OpenOutbox(s.Name, filepath.Join(c.Outbox, s.Name), sender, maxBytes, m, log)
			if err != nil {
				return nil, err
			}
			if s.Timeout > 0 {
				ob.SendTimeout = s.Timeout
			}
			out.Deliverer = ob
		}
		outs = append(outs, out)
	}
	return outs, nil
}

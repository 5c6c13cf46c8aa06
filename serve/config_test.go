package serve

import (
	"os"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// The shipped example config parses, with its ${ENV} references filled.
func TestExampleConfig(t *testing.T) {
	data, err := os.ReadFile("../testdata/serve.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseConfig("serve.yaml", data, env(map[string]string{"TRAILHOUND_TOKEN": "t0k", "ES_API_KEY": "k3y", "WEBHOOK_SECRET": "s"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.State != "serve.db" || c.Lateness != 20*time.Minute || c.Interval != time.Second {
		t.Errorf("state %q lateness %v interval %v", c.State, c.Lateness, c.Interval)
	}
	if c.HTTP == nil || c.HTTP.Listen != "127.0.0.1:8080" || len(c.HTTP.Tokens) != 1 || c.HTTP.Tokens[0] != "t0k" {
		t.Errorf("http %+v", c.HTTP)
	}
	if len(c.Sinks) != 3 {
		t.Fatalf("sinks %+v", c.Sinks)
	}
	es, hook := c.Sinks[1], c.Sinks[2]
	if es.Name != "elasticsearch" || es.APIKey != "k3y" || es.MinSeverity != "medium" {
		t.Errorf("elasticsearch sink %+v", es)
	}
	if hook.Name != "soc-hook" || hook.Secret != "s" || len(hook.Tags) != 2 || hook.OutboxMax != "256MB" {
		t.Errorf("webhook sink %+v", hook)
	}
}

// Bad configs are refused with the file, line or sink named.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"state: x\nhttp:\n  tokens: [\"${NOPE}\"]\n", "c.yaml:3: environment variable NOPE is not set"},
		{"state: x\nlatenes: 5m\n", "line 2: field latenes not found"},
		{"sinks:\n  - type: syslog\n", "sinks[0]: type \"syslog\""},
		{"sinks:\n  - type: splunk\n    url: https://s:8088\n", "splunk needs token"},
		{"sinks:\n  - type: jsonl\n", "sinks[0]: jsonl needs path"},
		{"sinks:\n  - type: webhook\n    url: http://x\n    min_severity: urgent\n", "min_severity"},
		{"sinks:\n  - {type: jsonl, path: a, name: n}\n  - {type: jsonl, path: b, name: n}\n", "name \"n\" used twice"},
		{"lateness: soon\n", "c.yaml"},
		{"http:\n  max_body: lots\n", "http.max_body"},
		{"sinks:\n  - type: webhook\n    url: \"ht!tp://x y\"\n", "sinks[0]: url: "},
		{"sinks:\n  - type: webhook\n    url: localhost:9200\n", "sinks[0]: url: \"localhost:9200\": want an http:// or https:// URL"},
		{"sinks:\n  - type: elasticsearch\n    url: ftp://es\n", "sinks[0]: url: \"ftp://es\": want an http"},
		{"sinks:\n  - type: slack\n    url: https:///services/x\n", "sinks[0]: url: \"https:///services/x\": no host"},
		{"sinks:\n  - type: splunk\n    token: t\n    url: https://u:hunter2@:8088\n", "sinks[0]: url: \"https://u:xxxxx@:8088\": no host"},
		{"http:\n  tokens: [\"${EMPTY}\"]\n", "c.yaml: http.tokens[0] is empty"},
		{"http:\n  tokens: [a, \" \"]\n", "http.tokens[1] is empty"},
		{"sinks:\n  - {type: jsonl, path: a, timeout: 5s}\n", "sinks[0]: timeout 5s: for the sinks with an outbox"},
	} {
		_, err := ParseConfig("c.yaml", []byte(tc.yaml), env(map[string]string{"EMPTY": ""}))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.yaml, err, tc.want)
		}
	}
	// a ${} in a comment is not a reference
	if _, err := ParseConfig("c.yaml", []byte("# ${NOPE}\nstate: x\n"), env(nil)); err != nil {
		t.Error(err)
	}
	c, err := ParseConfig("c.yaml", []byte("sinks:\n  - {type: jsonl, path: a}\n  - {type: jsonl, path: b}\n"), env(nil))
	if err != nil || c.Sinks[1].Name != "jsonl2" {
		t.Errorf("default names: %v %+v", err, c)
	}
}

// The sqs section parses; without queue_url it is an error.
func TestSQSConfig(t *testing.T) {
	c, err := ParseConfig("c.yaml", []byte("sqs:\n  queue_url: https://q/1/trail\n  dlq_url: https://q/1/dlq\n  max_receive: -1\n  visibility: 2m\n  endpoint: http://sqs\n  s3_endpoint: http://s3\n  ledger: /var/l.db\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := SQSConfig{QueueURL: "https://q/1/trail", DLQURL: "https://q/1/dlq", MaxReceive: -1, Visibility: 2 * time.Minute, Endpoint: "http://sqs", S3Endpoint: "http://s3", Ledger: "/var/l.db"}
	if c.SQS == nil || *c.SQS != want {
		t.Errorf("sqs %+v, want %+v", c.SQS, want)
	}
	if _, err := ParseConfig("c.yaml", []byte("sqs:\n  dlq_url: x\n"), env(nil)); err == nil || !strings.Contains(err.Error(), "queue_url") {
		t.Errorf("no queue_url: %v", err)
	}
}

// The Kafka consumer group's timeouts are read as durations; unset, they
// are zero (franz-go's defaults).
func TestKafkaConfigTimeouts(t *testing.T) {
	for _, tc := range []struct {
		yaml               string
		session, rebalance time.Duration
	}{
		{"state: x\nkafka:\n  brokers: [b:9092]\n  topic: t\n", 0, 0},
		{"state: x\nkafka:\n  brokers: [b:9092]\n  topic: t\n  session_timeout: 6s\n  rebalance_timeout: 10s\n", 6 * time.Second, 10 * time.Second},
	} {
		c, err := ParseConfig("c.yaml", []byte(tc.yaml), env(nil))
		if err != nil {
			t.Fatalf("%q: %v", tc.yaml, err)
		}
		if c.Kafka == nil || c.Kafka.SessionTimeout != tc.session || c.Kafka.RebalanceTimeout != tc.rebalance {
			t.Errorf("%q: kafka %+v, want session %v and rebalance %v", tc.yaml, c.Kafka, tc.session, tc.rebalance)
		}
	}
	if _, err := ParseConfig("c.yaml", []byte("state: x\nkafka:\n  rebalance_timeout: soon\n"), env(nil)); err == nil {
		t.Error("rebalance_timeout: soon was accepted")
	}
}

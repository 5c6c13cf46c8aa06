package elastic

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/esql"
	"github.com/trailhound/trailhound/event"
)

// An ES|QL rule's prefilter holds on every event its head keeps: it may let
// through more, never less. Each query is run on records whose fields are
// missing, null, numbers, lists, objects and dates.
func TestESQLPrefilterImplied(t *testing.T) {
	queries := []string{
		`FROM logs-aws.cloudtrail-* | WHERE event.action == "ListUsers"`,
		`FROM logs-aws.cloudtrail-* | WHERE event.action != "ListUsers" AND user.name != "bob"`,
		`FROM logs-aws.cloudtrail-* | WHERE aws.cloudtrail.flattened.request_parameters.n != "7"`,
		`FROM logs-aws.cloudtrail-* | WHERE aws.cloudtrail.flattened.request_parameters.tags != "a"`,
		`FROM logs-aws.cloudtrail-* | WHERE @timestamp != "2026-11-03T10:00:00Z"`,
		`FROM logs-aws.cloudtrail-* | WHERE STARTS_WITH(event.action, "List") OR ENDS_WITH(user.name, "ory")`,
		`FROM logs-aws.cloudtrail-* | WHERE STARTS_WITH(aws.cloudtrail.flattened.request_parameters.n, "7")`,
		`FROM logs-aws.cloudtrail-* | WHERE true IN (STARTS_WITH(event.action, "Get"), STARTS_WITH(event.action, "List"))`,
		`FROM logs-aws.cloudtrail-* | WHERE true IN (STARTS_WITH(event.action, "Get"), user.name IS NULL)`,
		`FROM logs-aws.cloudtrail-* | WHERE event.provider IN ("iam.amazonaws.com", "s3.amazonaws.com") AND source.ip IS NOT NULL`,
		`FROM logs-aws.cloudtrail-* | EVAL x = "ListUsers" | WHERE x == "ListUsers" AND event.action LIKE "List*"`,
		`FROM logs-aws.cloudtrail-* | WHERE @timestamp == "2026-11-03T10:00:00Z"`,
		`FROM logs-aws.cloudtrail-* | WHERE @timestamp IN ("2026-11-03T10:00:00Z", "2026-11-03T10:00:01Z")`,
		`FROM logs-aws.cloudtrail-* | WHERE STARTS_WITH(event.action, "") AND ENDS_WITH(event.provider, ".com")`,
		`FROM logs-aws.cloudtrail-* | WHERE true IN (event.action == "GetUser", event.action != "ListUsers")`,
		`FROM logs-aws.cloudtrail-* | WHERE user.name != "" AND event.outcome == "success"`,
	}
	records := []string{
		`{"eventTime":"2026-11-03T10:00:00Z","eventSource":"iam.amazonaws.com","eventName":"ListUsers","sourceIPAddress":"192.0.2.1","userIdentity":{"userName":"mallory"}}`,
		`{"eventTime":"2026-11-03T10:00:01Z","eventSource":"iam.amazonaws.com","eventName":"GetUser","userIdentity":{"userName":"bob"},"requestParameters":{"n":7,"tags":["a","b"]}}`,
		`{"eventTime":"2026-11-03T10:00:00.000Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","requestParameters":{"n":"7","tags":"a"}}`,
		`{"eventTime":"2026-11-03T10:00:02Z","eventSource":"s3.amazonaws.com","eventName":"PutObject","userIdentity":{"userName":null},"requestParameters":{"n":{"x":1},"tags":["a"]}}`,
		`{"eventTime":"2026-11-03T10:00:03Z","eventSource":"s3.amazonaws.com","eventName":"-","sourceIPAddress":"AWS Internal","requestParameters":{"n":"71","tags":[]}}`,
		`{"@timestamp":"2026-11-03T10:00:04Z","event":{"provider":"iam.amazonaws.com","action":["ListUsers","GetUser"]},"user":{"name":["mallory","bob"]}}`,
		`{"eventTime":"2026-11-03T10:00:05Z","eventSource":"iam.amazonaws.com","eventName":"CreateUser","userIdentity":{"userName":"alice"},"requestParameters":{"n":"8","tags":"c"}}`,
	}
	for _, q := range queries {
		pq, err := esql.Parse(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		prog, err := esql.Compile(pq)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		pre := esqlPrefilter(pq)
		kept, passed := 0, 0
		for i, js := range records {
			var p event.Parser
			ev, err := p.Parse([]byte(js))
			if err != nil {
				t.Fatal(err)
			}
			rows := 0
			prog.Head(ev, time.Now(), func(esql.Row) { rows++ })
			ok, err := engine.Eval(pre, ev)
			if err != nil {
				t.Fatalf("%s: prefilter %v: %v", q, pre, err)
			}
			if rows > 0 {
				kept++
			}
			if ok {
				passed++
			}
			if rows > 0 && !ok {
				t.Errorf("%s on record %d: the head keeps it, the prefilter %s does not", q, i, fmt.Sprint(pre))
			}
		}
		// each query keeps some record, and the prefilter rules out some
		// (but where it cannot: a date compared as a string, IS NULL)
		loose := strings.Contains(q, "@timestamp") || strings.Contains(q, "IS NULL")
		if kept == 0 || passed == len(records) && !loose {
			t.Errorf("%s: the head kept %d records, the prefilter %s passed %d of %d", q, kept, fmt.Sprint(pre), passed, len(records))
		}
	}
}

package esql

import (
	"fmt"
	"time"

	"slices"
	"testing"

	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/geoip"
	"github.com/trailhound/trailhound/geoip/geoiptest"
)

func TestProgramFields(t *testing.T) {
	p := compileQuery(t, `FROM logs-aws.cloudtrail-* | WHERE event.provider == "sts.amazonaws.com" AND source.as.organization.name != "AMAZON-02" | STATS n = COUNT(*) BY user.name`)
	want := []string{"event.provider", "source.as.organization.name", "user.name"}
	if got := p.Fields(); !slices.Equal(got, want) {
		t.Errorf("Fields() = %q, want %q", got, want)
	}
}

func TestDecisionFields(t *testing.T) {
	for _, tc := range []struct {
		q    string
		want []string
	}{
		{`FROM logs-* | WHERE event.action == "A" | STATS n = COUNT(*), orgs = VALUES(source.as.organization.name) BY user.name | KEEP n, orgs`,
			[]string{"event.action", "user.name"}},
		{`FROM logs-* | STATS orgs = VALUES(source.as.organization.name) BY user.name | WHERE MV_COUNT(orgs) > 1`,
			[]string{"source.as.organization.name", "user.name"}},
		{`FROM logs-* | STATS n = COUNT_DISTINCT(source.geo.country_iso_code) BY user.name | WHERE n > 2`,
			[]string{"source.geo.country_iso_code", "user.name"}},
		{`FROM logs-* | KEEP source.geo.city_name, event.action | SORT event.action`, []string{"event.action"}},
	} {
		p := compileQuery(t, tc.q)
		if got := p.DecisionFields(); !slices.Equal(got, tc.want) {
			t.Errorf("%s:\n DecisionFields() = %q, want %q", tc.q, got, tc.want)
		}
	}
}

// A KEEP on a raw record (of plain names, or with patterns, which
// materialize only the fields they match) gives what the materialized row
// gives.
func TestKeepAsMaterialized(t *testing.T) {
	db, err := geoip.Open(geoiptest.Dir(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rec := `{"eventVersion":"1.09","eventTime":"2025-02-01T08:00:00Z","eventSource":"iam.amazonaws.com","eventName":"ListUsers","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","userAgent":"aws-cli/2.15.3 md/awscrt#0.19.17 ua/2.0 os/linux#5.15.0","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice","userName":"alice","accessKeyId":"AKIAEXAMPLEKEY000001"},"resources":[{"ARN":"arn:aws:iam::111122223333:user/a"},{"ARN":"arn:aws:iam::111122223333:user/b"}]}`
	const named = `FROM logs-* | EVAL w = DATE_TRUNC(10 seconds, @timestamp), nothing = null | KEEP @timestamp, w, nothing, event.action, user_agent.name, aws.cloudtrail.resources.arn, source.geo.city_name, no.such.field, user.name, event.action`
	const patterns = `FROM logs-* METADATA _id, _version, _index | EVAL w = DATE_TRUNC(10 seconds, @timestamp) | KEEP @timestamp, event.action, source.geo.*, w, user.target.*, aws.cloudtrail.user_identity.*, _id, _index, source.*, user_agent.os.*, event.action`
	for _, tc := range []struct {
		name  string
		q     string
		geo   *geoip.DB
		ncols int // columns kept
	}{
		{"names", named, nil, 7},
		{"names, GeoIP", named, db, 8},
		{"patterns", patterns, nil, 11},
		{"patterns, GeoIP", patterns, db, 21},
		{"every field", `FROM logs-* | KEEP *`, db, 0},
		{"the agent and entities", `FROM logs-* | KEEP user_agent.*, related.*, *.entity.id`, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := Parse(tc.q)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Compile(q)
			if err != nil {
				t.Fatal(err)
			}
			run := func(fast bool) ([]string, []Value) {
				ps := event.Parser{GeoIP: tc.geo}
				ev, err := ps.Parse([]byte(rec))
				if err != nil {
					t.Fatal(err)
				}
				r := &eventRow{p: p, ev: ev, t: ev.Time()}
				r.startFields()
				rows := []*eventRow{r}
				for _, c := range q.Commands {
					if k, ok := c.(Keep); ok && !fast {
						r := rows[0]
						r.materialize()
						tb := Table{Columns: r.names, Rows: [][]Value{slices.Clone(r.vals)}}
						tb = applyTable(k, tb, time.Time{})
						return tb.Columns, tb.Rows[0]
					}
					var next []*eventRow
					for _, r := range rows {
						next = applyRow(c, r, next)
					}
					rows = next
				}
				r = rows[0]
				return r.names, slices.Clone(r.vals)
			}
			fc, fv := run(true)
			sc, sv := run(false)
			if !slices.Equal(fc, sc) || fmt.Sprint(fv) != fmt.Sprint(sv) {
				t.Errorf("KEEP %q %v\nmaterialized %q %v", fc, fv, sc, sv)
			}
			if tc.ncols > 0 && len(fc) != tc.ncols {
				t.Errorf("columns %q, want %d", fc, tc.ncols)
			}
		})
	}
}

// compileQuery parses and compiles q, failing the test on an error.
func compileQuery(tb testing.TB, q string) *Program {
	tb.Helper()
	pq, err := Parse(q)
	if err != nil {
		tb.Fatalf("parse %q: %v", q, err)
	}
	p, err := Compile(pq)
	if err != nil {
		tb.Fatalf("compile %q: %v", q, err)
	}
	return p
}

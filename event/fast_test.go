package event

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/valyala/fastjson"

	"github.com/trailhound/trailhound/geoip"
	"github.com/trailhound/trailhound/geoip/geoiptest"
	"github.com/trailhound/trailhound/record"
)

// checkFields parses record with p and checks that each field has its
// wanted value, both through the field's getter and in the ECS view.
func checkFields(t *testing.T, p Parser, record string, want map[string]string) *Event {
	t.Helper()
	ev, err := p.Parse([]byte(record))
	if err != nil {
		t.Fatal(err)
	}
	for field, w := range want {
		if got := valuesString(Resolve(field)(ev, nil)); got != w {
			t.Errorf("%s: getter gives %q, want %q", field, got, w)
		}
		if got := valuesString(walk(ev.ECS(), newPath(field), 0, nil)); got != w {
			t.Errorf("%s: ECS view has %q, want %q", field, got, w)
		}
	}
	return ev
}

func valuesString(vs []Value) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = v.S
	}
	sort.Strings(s)
	s = slices.Compact(s) // the pipeline de-duplicates resources
	return strings.Join(s, "|")
}

// The direct raw accessors give exactly what the full ECS view gives, on
// every record of the real corpus.
func TestFastGettersAgreeWithECS(t *testing.T) {
	dir := corpus(t, "cloudtrail-logs")
	walked := record.Walk([]string{dir})
	if len(walked.Errors) > 0 {
		t.Fatal(walked.Errors)
	}
	names := []string{"event.dataset", "data_stream.dataset", "event.outcome", "cloud.account.id", "user.name", "user.id",
		"source.ip", "event.ingested", "data_stream.namespace", "event.kind", "event.type", "event.category", "source.as.number", "source.geo.country_iso_code", "user_agent.name", "related.entity", "entity.target.id", "@timestamp"}
	for n := range fromFlattened {
		names = append(names, n)
	}
	for n := range javaStrings {
		names = append(names, n)
	}
	for n := range resourceKeys {
		names = append(names, n)
	}
	for n := range renames {
		names = append(names, n)
	}
	var p Parser
	checked := 0
	for _, in := range walked.Inputs {
		rc, err := record.Open(in.Path)
		if err != nil {
			t.Fatal(err)
		}
		err = record.ForEach(rc, 0, func(rec record.Record) error {
			ev, err := p.Parse(rec.Data)
			if err != nil || ev.Kind != KindCloudTrail {
				return nil
			}
			fields := append([]string(nil), names...)
			if rp := ev.Source().Get("requestParameters"); rp != nil && rp.Type() == fastjson.TypeObject {
				o, _ := rp.Object()
				o.Visit(func(k []byte, _ *fastjson.Value) {
					fields = append(fields, "aws.cloudtrail.flattened.request_parameters."+string(k))
				})
			}
			for _, f := range fields {
				fast := Resolve(f)(ev, nil)
				slow := walk(ev.ECS(), newPath(f), 0, nil)
				if a, b := valuesString(fast), valuesString(slow); a != b {
					return fmt.Errorf("%s:%d %s: fast %q, ECS view %q", in.Path, rec.Line, f, a, b)
				}
				checked++
			}
			return nil
		}, func(*record.PosError) {})
		if err != nil {
			t.Fatal(err)
		}
		rc.Close()
	}
	t.Logf("%d field reads compared", checked)
}

// FieldNamesFor gives FieldNames less the names it is told to leave out, on
// every record of the real corpus and on one the GeoIP test databases know,
// whichever enrichment (user agent, GeoIP, entities) the names need.
func TestFieldNamesFor(t *testing.T) {
	db, err := geoip.Open(geoiptest.Dir(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	prefixes := func(ps ...string) func(string) bool {
		return func(n string) bool {
			return slices.ContainsFunc(ps, func(p string) bool { return strings.HasPrefix(n, p) })
		}
	}
	wants := []struct {
		name string
		want func(string) bool
	}{
		{"none", func(string) bool { return false }},
		{"all", func(string) bool { return true }},
		{"geo", prefixes("source.geo.", "@timestamp", "_id")},
		{"source", prefixes("source.")},
		{"agent", prefixes("user_agent.")},
		{"entities", prefixes("related.", "user.target.", "target.", "entity.")},
		{"aws", prefixes("aws.cloudtrail.user_identity.", "event.action")},
	}
	p := Parser{GeoIP: db}
	checked := 0
	check := func(where string, data []byte) error {
		for _, w := range wants {
			ev, err := p.Parse(data)
			if err != nil {
				return nil
			}
			got := FieldNamesFor(ev, w.want)
			all := slices.DeleteFunc(FieldNames(ev), func(n string) bool { return !w.want(n) })
			if !slices.Equal(got, all) {
				return fmt.Errorf("%s, %s: FieldNamesFor %q, FieldNames %q", where, w.name, got, all)
			}
			checked++
		}
		return nil
	}
	geoRec := `{"eventVersion":"1.08","eventTime":"2024-05-01T10:00:00Z","eventSource":"iam.amazonaws.com","eventName":"CreateAccessKey","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","userAgent":"aws-cli/2.15.3 md/awscrt#0.19.17 ua/2.0 os/linux#5.15.0","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice","userName":"alice"},"requestParameters":{"userName":"bob"},"eventID":"e1"}`
	if err := check("GeoIP record", []byte(geoRec)); err != nil {
		t.Fatal(err)
	}
	walked := record.Walk([]string{corpus(t, "cloudtrail-logs")})
	if len(walked.Errors) > 0 {
		t.Fatal(walked.Errors)
	}
	for i, in := range walked.Inputs {
		if step := map[bool]int{false: 8, true: 40}[testing.Short()]; i%step != 0 {
			continue // every eighth file (fortieth with -short): 25 s for all
		}
		rc, err := record.Open(in.Path)
		if err != nil {
			t.Fatal(err)
		}
		err = record.ForEach(rc, 0, func(rec record.Record) error {
			return check(fmt.Sprintf("%s:%d", in.Path, rec.Line), rec.Data)
		}, func(*record.PosError) {})
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d name lists compared", checked)
}

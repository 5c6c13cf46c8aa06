package event

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/valyala/fastjson"

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
	names := []string{"event.dataset", "data_stream.dataset", "event.outcome", "cloud.account.id", "user.name",
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

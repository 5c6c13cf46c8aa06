package engine

import (
	"fmt"
	"maps"
	"regexp"
	"strings"
	"testing"

	"github.com/trailhound/trailhound/elastic"
	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/kql"
	"github.com/trailhound/trailhound/rule"
)

const rec = `{
  "eventVersion": "1.10", "eventTime": "2026-11-03T13:52:07Z",
  "eventSource": "lambda.amazonaws.com", "eventName": "AddPermission20150331v2",
  "awsRegion": "eu-west-1", "sourceIPAddress": "192.0.2.45", "userAgent": "Boto3/1.34.11",
  "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::210987654321:user/mallory", "accountId": "210987654321",
                   "userName": "mallory", "principalId": "AIDAEXAMPLE", "invokedBy": ""},
  "requestParameters": {"functionName": "billing", "action": "lambda:InvokeFunction", "principal": "*",
                        "ipPermissions": {"items": [{"fromPort": 22, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}, {"cidrIp": "10.0.0.0/8"}]}}]},
                        "enable": false, "tags": ["a", "b"], "empty": null},
  "responseElements": null, "readOnly": false, "eventID": "e1", "recipientAccountId": "210987654321"
}`

func eval(t *testing.T, q string, js string) bool {
	t.Helper()
	n, err := kql.Parse(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	c, err := elastic.Lower(n)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	var p event.Parser
	ev, err := p.Parse([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	ok, err := Eval(rule.Simplify(c), ev)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestKQLSemantics(t *testing.T) {
	tests := []struct {
		q    string
		want bool
	}{
		{`event.action: AddPermission20150331v2`, true},
		{`event.action: addpermission20150331v2`, false}, // keyword: case-sensitive
		{`event.action: AddPermission*`, true},
		{`event.action: *Permission*`, true},
		{`event.action: "AddPermission*"`, false},    // no wildcards inside quotes
		{`eventName: AddPermission20150331v2`, true}, // raw names resolve too
		{`data_stream.dataset: aws.cloudtrail and event.dataset: "aws.cloudtrail"`, true},
		{`event.outcome: success`, true},
		{`aws.cloudtrail.request_parameters: (*lambda\:InvokeFunction* and *principal=\**)`, true},
		{`aws.cloudtrail.request_parameters: *principal=\*x*`, false},
		{`aws.cloudtrail.flattened.request_parameters.fromPort: 22`, false}, // not at that path
		{`aws.cloudtrail.flattened.request_parameters.ipPermissions.items.fromPort: 22`, true},
		{`aws.cloudtrail.flattened.request_parameters.ipPermissions.items.ipRanges.items.cidrIp: "0.0.0.0/0"`, true}, // through arrays
		{`aws.cloudtrail.flattened.request_parameters.enable: (false or "false")`, true},                             // booleans by string form
		{`aws.cloudtrail.flattened.request_parameters.tags: b`, true},                                                // any array element
		{`aws.cloudtrail.flattened.request_parameters.empty: *`, false},                                              // null is dropped
		{`aws.cloudtrail.user_identity.invoked_by: *`, false},                                                        // "" is dropped
		{`not aws.cloudtrail.user_identity.invoked_by: *`, true},
		{`not aws.cloudtrail.error_code: AccessDenied`, true}, // not on a missing field is true
		{`source.ip: *`, true},
		{`source.address: 192.0.2.45`, true},
		{`user.name: mallory and cloud.account.id: 210987654321`, true},
		{`aws.cloudtrail.read_only: false`, true},
		{`aws.cloudtrail.user_identity.type: (AssumedRole or IAMUser)`, true},
		{`user_agent.original: (*S3 Browser* or *Boto3*)`, true},
		{`mallory`, true}, // free text: any field
		{`"not-anywhere"`, false},
		{`aws.cloudtrail.flattened.request_parameters.ipPermissions.items.fromPort >= 22 and aws.cloudtrail.flattened.request_parameters.ipPermissions.items.fromPort < 23`, true},
		{`event.id > "e0"`, true},
	}
	for _, tt := range tests {
		if got := eval(t, tt.q, rec); got != tt.want {
			t.Errorf("%s = %v, want %v", tt.q, got, tt.want)
		}
	}
}

// Elastic does not index request_parameters longer than ignore_above (8191):
// queries cannot match such values.
func TestIgnoreAbove(t *testing.T) {
	long := strings.Repeat("x", 9000)
	js := `{"eventSource":"s3.amazonaws.com","eventName":"PutBucketPolicy","requestParameters":{"policy":"` + long + `"}}`
	if eval(t, `aws.cloudtrail.request_parameters: *xxx*`, js) {
		t.Error("matched a request_parameters value above ignore_above")
	}
	if !eval(t, `aws.cloudtrail.flattened.request_parameters.policy: *xxx*`, js) {
		t.Error("flattened leaf should still match")
	}
}

func TestIndex(t *testing.T) {
	mk := func(id, q string) *rule.Rule { return queryRule(t, id, q) }
	rules := []*rule.Rule{
		mk("both", `event.provider: lambda.amazonaws.com and event.action: (A or B)`),
		mk("prov", `event.provider: lambda.amazonaws.com and event.action: A*`),
		mk("act", `event.action: B and not user.name: x`),
		mk("any", `user.name: mallory`),
		mk("other", `event.provider: s3.amazonaws.com and event.action: A`),
	}
	eng, err := Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	s := NewScratch()
	for _, tt := range []struct{ prov, act, want string }{
		{"lambda.amazonaws.com", "A", "both,prov,any"},
		{"lambda.amazonaws.com", "B", "both,act,any"},
		{"s3.amazonaws.com", "A", "any,other"},
		{"iam.amazonaws.com", "Z", "any"},
	} {
		js := `{"eventSource":"` + tt.prov + `","eventName":"` + tt.act + `","userIdentity":{"userName":"mallory"}}`
		var p event.Parser
		ev, _ := p.Parse([]byte(js))
		var got []string
		eng.Match(ev, s, func(r *rule.Rule) { got = append(got, r.ID) })
		if strings.Join(got, ",") != tt.want {
			t.Errorf("%s/%s matched %v, want %s", tt.prov, tt.act, got, tt.want)
		}
	}
}

func TestContainsCore(t *testing.T) {
	for _, tt := range []struct{ in, core string }{
		{`^(?s:.*Effect.*)$`, "Effect"},
		{`^(?s:.*"Principal": *"\*".*)$`, `"Principal": *"\*"`},
		{`^(?s:.*a|b.*)$`, ""}, // alternation: not a contains test
		{`^(?s:abc.*)$`, ""},
		{`^(?:.*abc.*)$`, ""}, // . without s does not match newlines
	} {
		core, ok := containsCore(tt.in)
		if ok != (tt.core != "") || (ok && regexp.MustCompile(core).String() != regexp.MustCompile(tt.core).String() && core != tt.core) {
			t.Errorf("%s: %q %v, want %q", tt.in, core, ok, tt.core)
		}
	}
}

// Profiles count, per rule, the events evaluated and matched with a
// profiling scratch, and add up several scratches.
func TestProfiles(t *testing.T) {
	rules := []*rule.Rule{
		{ID: "a", Name: "A", Type: "query", Cond: rule.Cmp{Field: "eventName", Op: rule.OpEq, Values: []string{"X"}}},
		{ID: "b", Name: "B", Type: "query", Cond: rule.Cmp{Field: "eventName", Op: rule.OpEq, Values: []string{"Y"}}},
	}
	eng, err := Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	var p event.Parser
	s1, s2 := NewScratch(), NewScratch()
	s1.Profile(eng)
	s2.Profile(eng)
	for i, rec := range []string{`{"eventSource":"s3.amazonaws.com","eventName":"X","eventTime":"2026-01-01T00:00:00Z"}`, `{"eventSource":"s3.amazonaws.com","eventName":"X","eventTime":"2026-01-01T00:00:01Z"}`, `{"eventSource":"s3.amazonaws.com","eventName":"Y","eventTime":"2026-01-01T00:00:02Z"}`} {
		ev, err := p.Parse([]byte(rec))
		if err != nil {
			t.Fatal(err)
		}
		s := s1
		if i == 2 {
			s = s2
		}
		eng.Match(ev, s, func(*rule.Rule) {})
	}
	got := map[string][2]int64{}
	for _, pr := range eng.Profiles(s1, s2) {
		got[pr.Rule.ID] = [2]int64{pr.Evals, pr.Matches}
	}
	if got["a"] != [2]int64{2, 2} || got["b"] != [2]int64{1, 1} {
		t.Errorf("profiles %v, want a evaluated and matched twice, b once (the index lets only its events through)", got)
	}
}

// A disjunction whose every branch pins event sources or names is indexed
// under the union of the branches' pins (also as a conjunct): the rule is
// evaluated only on events of those, and matches what it matches unindexed.
func TestIndexDisjunctions(t *testing.T) {
	mk := func(id, q string) *rule.Rule { return queryRule(t, id, q) }
	eq := func(f, v string) rule.Cond {
		return rule.Cmp{Field: f, Op: rule.OpEq, Values: []string{v}, CaseInsensitive: true}
	}
	rules := []*rule.Rule{
		mk("or", `(event.provider: iam.amazonaws.com and event.action: X) or event.action: Y`),
		mk("nested", `user.name: mallory and (event.provider: s3.amazonaws.com or event.action: Y)`),
		mk("half", `event.action: X or user.name: mallory`),
		{ID: "folded", Name: "folded", Type: "query", Cond: rule.Or{Conds: []rule.Cond{
			rule.And{Conds: []rule.Cond{eq("eventSource", "IAM.amazonaws.com"), eq("eventName", "updatesaml")}},
			rule.And{Conds: []rule.Cond{eq("eventSource", "sts.amazonaws.com"), eq("eventName", "AssumeRoleWithSAML")}},
		}}},
	}
	eng, err := Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	var records []string
	for _, pa := range [][2]string{{"iam.amazonaws.com", "X"}, {"s3.amazonaws.com", "Z"}, {"lambda.amazonaws.com", "Y"},
		{"iam.amazonaws.com", "UpdateSaml"}, {"ec2.amazonaws.com", "X"}, {"STS.amazonaws.com", "assumerolewithsaml"}} {
		records = append(records, `{"eventSource":"`+pa[0]+`","eventName":"`+pa[1]+`","userIdentity":{"userName":"mallory"}}`)
	}
	matched, evals := matchAsUnindexed(t, eng, rules, records)
	want := map[string]int64{"or": 2, "nested": 2, "half": 6, "folded": 2}
	for id, n := range want {
		if evals[id] != n {
			t.Errorf("%s evaluated on %d events, want %d", id, evals[id], n)
		}
	}
	if matched["or"] != 2 || matched["nested"] != 2 || matched["half"] != 6 || matched["folded"] != 2 {
		t.Errorf("matches %v", matched)
	}
}

// On raw CloudTrail records (dataset aws.cloudtrail) the index leaves out
// what a rule can only match on other datasets; on other events it does
// not.
func TestIndexOtherDatasets(t *testing.T) {
	mk := func(id, q string) *rule.Rule { return queryRule(t, id, q) }
	rules := []*rule.Rule{
		mk("mixed", `(data_stream.dataset: aws.cloudtrail and event.action: X) or (data_stream.dataset: k8s and verb: get)`),
		mk("k8s", `data_stream.dataset: k8s and verb: get`),
		{ID: "folded", Name: "folded", Type: "query", Cond: rule.And{Conds: []rule.Cond{
			rule.Cmp{Field: "event.dataset", Op: rule.OpEq, Values: []string{"AWS.CloudTrail"}, CaseInsensitive: true},
			rule.Cmp{Field: "user.name", Op: rule.OpEq, Values: []string{"mallory"}},
		}}},
	}
	eng, err := Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	matched, evals := matchAsUnindexed(t, eng, rules, []string{
		`{"eventSource":"iam.amazonaws.com","eventName":"X","userIdentity":{"userName":"mallory"}}`,
		`{"eventSource":"iam.amazonaws.com","eventName":"Y","userIdentity":{"userName":"mallory"}}`,
		`{"@timestamp":"2026-11-03T10:00:00Z","event":{"action":"get","dataset":"k8s"},"data_stream":{"dataset":"k8s"},"verb":"get"}`,
	})
	if want := map[string]int64{"mixed": 2, "k8s": 1, "folded": 3}; !maps.Equal(evals, want) {
		t.Errorf("evaluated %v, want %v", evals, want)
	}
	if want := map[string]int{"mixed": 2, "k8s": 1, "folded": 2}; !maps.Equal(matched, want) {
		t.Errorf("matched %v, want %v", matched, want)
	}
}

// A conjunction reads costly fields (the parsed parts of user_agent) after
// the other conjuncts: an event they rule out does not
// read them; the result is the same.
func TestCostlyConjunctsLast(t *testing.T) {
	reads := 0
	probe := rule.Pred{Text: "user agent probe", Fields: []string{"user_agent.name"}, Match: func(*event.Event) bool { reads++; return true }}
	for _, c := range []rule.Cond{
		rule.And{Conds: []rule.Cond{probe, rule.Cmp{Field: "eventName", Op: rule.OpEq, Values: []string{"X"}}}},
		rule.And{Conds: []rule.Cond{rule.Cmp{Field: "eventName", Op: rule.OpEq, Values: []string{"X"}}, probe}},
	} {
		reads = 0
		m, err := CompileCond(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			name string
			want bool
		}{{"X", true}, {"Y", false}, {"Z", false}} {
			var p event.Parser
			ev, err := p.Parse([]byte(`{"eventTime":"2026-11-03T10:00:00Z","eventSource":"iam.amazonaws.com","eventName":"` + tt.name + `"}`))
			if err != nil {
				t.Fatal(err)
			}
			if got := m(ev, NewScratch()); got != tt.want {
				t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
			}
		}
		if reads != 1 {
			t.Errorf("the costly conjunct was evaluated on %d events, want 1 (only X)", reads)
		}
	}
}

// matchAsUnindexed parses each record and checks that the indexed engine
// matches it with exactly the rules whose condition holds on it; it returns
// the matches and the evaluations per rule.
func matchAsUnindexed(t *testing.T, eng *Engine, rules []*rule.Rule, records []string) (matched map[string]int, evals map[string]int64) {
	t.Helper()
	s := NewScratch()
	s.Profile(eng)
	matched = map[string]int{}
	for _, js := range records {
		var p event.Parser
		ev, err := p.Parse([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range checkUnindexed(t, eng, s, rules, ev, js) {
			matched[id]++
		}
	}
	evals = map[string]int64{}
	for _, p := range eng.Profiles(s) {
		evals[p.Rule.ID] = p.Evals
	}
	return matched, evals
}

// checkUnindexed checks that the indexed engine matches ev (labelled
// label in errors) with exactly the rules whose condition holds on it, and
// returns the ids of those rules.
func checkUnindexed(t *testing.T, eng *Engine, s *Scratch, rules []*rule.Rule, ev *event.Event, label string) (ids []string) {
	t.Helper()
	got := map[string]bool{}
	eng.Match(ev, s, func(r *rule.Rule) { got[r.ID] = true })
	for _, r := range rules {
		want, err := Eval(r.Cond, ev)
		if err != nil {
			t.Fatal(err)
		}
		if got[r.ID] != want {
			t.Errorf("%s (%s) on %s: matched %v, unindexed %v", r.ID, r.Name, label, got[r.ID], want)
		}
		if want {
			ids = append(ids, r.ID)
		}
	}
	return ids
}

// queryRule is a query rule of KQL q, its condition simplified as the
// loader does.
func queryRule(t *testing.T, id, q string) *rule.Rule {
	t.Helper()
	n, err := kql.Parse(q)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := elastic.Lower(n)
	return &rule.Rule{ID: id, Name: id, Type: "query", Cond: rule.Simplify(c)}
}

// The conjuncts of a rule that read only the event source and name (and
// the identity type) are decided once per source and name (and type) on raw
// CloudTrail records: the rule is evaluated only on the events they let
// through, and matches what the condition says on every event, whatever the
// fields hold (a dropped string, a number, a list, nothing) and on ECS
// documents.
func TestSourceAndNameDecidedOnce(t *testing.T) {
	mk := func(id, q string) *rule.Rule { return queryRule(t, id, q) }
	name := event.ResolveView("eventName")
	listing := rule.Pred{Text: "eventName starts with list", Fields: []string{"eventName"}, Only: true, Match: func(ev *event.Event) bool {
		for _, v := range name(ev) {
			if strings.HasPrefix(strings.ToLower(v.S), "list") {
				return true
			}
		}
		return false
	}}
	rules := []*rule.Rule{
		mk("prefix", `event.action: List* and user.name: mallory`),
		mk("not", `not event.action: (ListUsers or "-") and user.name: mallory`),
		mk("static", `event.provider: iam.amazonaws.com and event.action: List*`),
		mk("raw", `eventName: - and user.name: mallory`),
		mk("dataset", `data_stream.dataset: aws.cloudtrail and not event.kind: alert and user.name: mallory`),
		mk("type", `aws.cloudtrail.user_identity.type: IAMUser and event.action: List* and user.name: mallory`),
		mk("or", `(event.action: ListUsers and user.name: mallory) or (aws.cloudtrail.user_identity.type: Root and user.name: *)`),
		{ID: "pred", Name: "pred", Type: "query", Cond: rule.And{Conds: []rule.Cond{listing, rule.Cmp{Field: "user.name", Op: rule.OpEq, Values: []string{"mallory"}}}}},
	}
	eng, err := Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	matched, evals := matchAsUnindexed(t, eng, rules, []string{
		`{"eventSource":"iam.amazonaws.com","eventName":"ListUsers","userIdentity":{"userName":"mallory","type":"IAMUser"}}`,
		`{"eventSource":"iam.amazonaws.com","eventName":"ListRoles","userIdentity":{"userName":"mallory","type":"Root"}}`,
		`{"eventSource":"iam.amazonaws.com","eventName":"ListRoles","userIdentity":{"userName":"bob","type":"IAMUser"}}`,
		`{"eventSource":"iam.amazonaws.com","eventName":"ListRoles","userIdentity":[{"userName":"mallory","type":"IAMUser"},{"type":"Root"}]}`,
		`{"eventSource":"iam.amazonaws.com","eventName":"ListRoles","userIdentity":{"userName":"mallory","type":7}}`,
		`{"eventSource":"iam.amazonaws.com","eventName":"GetUser","userIdentity":{"userName":"mallory"}}`,
		`{"eventSource":"iam.amazonaws.com","eventName":"-","userIdentity":{"userName":"mallory"}}`,
		`{"eventSource":"iam.amazonaws.com","eventName":7,"userIdentity":{"userName":"mallory"}}`,
		`{"eventSource":"iam.amazonaws.com","eventTime":"2026-11-03T10:00:00Z","userIdentity":{"userName":"mallory"}}`,
		`{"@timestamp":"2026-11-03T10:00:00Z","event":{"provider":"iam.amazonaws.com","action":["GetUser","ListUsers"]},"user":{"name":"mallory"}}`,
	})
	// the records whose eventName is not a string, and the ECS document,
	// are evaluated whole; of the others, those the source and name rule out
	// are not evaluated
	// (raw is pinned to the name "-": the index leaves the others out)
	// (type is decided by the identity type too, where the record has one
	// string there: it is not evaluated on the Root record)
	// (or implies "ListUsers or type Root", which rules out the ListRoles
	// record of type IAMUser; those without one string there are
	// evaluated whole)
	want := map[string]int64{"prefix": 5 + 3, "not": 6 + 3, "static": 5 + 3, "raw": 1, "pred": 5 + 3, "dataset": 10, "type": 9, "or": 9}
	if !maps.Equal(evals, want) {
		t.Errorf("evaluated %v, want %v", evals, want)
	}
	if want := map[string]int{"prefix": 4, "not": 6, "static": 6, "raw": 1, "pred": 4, "dataset": 7, "type": 1, "or": 3}; !maps.Equal(matched, want) {
		t.Errorf("matched %v, want %v", matched, want)
	}
}

// Conjunctions evaluate their conjuncts cheapest first by these ranks.
func TestCost(t *testing.T) {
	eq := rule.Cmp{Field: "userIdentity.type", Op: rule.OpEq, Values: []string{"Root"}}
	re := rule.Cmp{Field: "aws.cloudtrail.resources.arn", Op: rule.OpRegex, Values: []string{".*ransom.*"}}
	outcome := rule.Cmp{Field: "event.outcome", Op: rule.OpEq, Values: []string{"success"}}
	agent := rule.Cmp{Field: "user_agent.name", Op: rule.OpEq, Values: []string{"aws-cli"}}
	pred := rule.Pred{Text: "p", Fields: []string{"user.name"}}
	for _, tt := range []struct {
		c    rule.Cond
		want int
	}{
		{eq, 0},
		{rule.Not{Cond: eq}, 0},
		{outcome, 0}, // two key look-ups, as cheap as any other read
		{pred, 1},
		{rule.Or{Conds: []rule.Cond{eq, pred}}, 1},
		{agent, 2},
		{rule.Cmp{Field: "user_agent.os.name", Op: rule.OpExists}, 2},
		{rule.Pred{Text: "p", Fields: []string{"user_agent.name"}}, 2},
		{re, 3},
		{rule.Not{Cond: re}, 3},
		{rule.And{Conds: []rule.Cond{eq, re, agent}}, 3},
	} {
		if got := cost(tt.c); got != tt.want {
			t.Errorf("cost(%#v) = %d, want %d", tt.c, got, tt.want)
		}
	}
}

// Conjuncts run the costly last and, of those that cost the same, the
// likely true (field exists, a negation) last, keeping their order
// otherwise.
func TestOrdered(t *testing.T) {
	eq := rule.Cmp{Field: "userIdentity.type", Op: rule.OpEq, Values: []string{"Root"}}
	key := rule.Cmp{Field: "aws.cloudtrail.user_identity.access_key_id", Op: rule.OpWildcard, Patterns: []rule.Pattern{{Parts: []string{"AKIA", ""}}}}
	ip := rule.Cmp{Field: "source.ip", Op: rule.OpExists}
	notEq := rule.Not{Cond: eq}
	outcome := rule.Cmp{Field: "event.outcome", Op: rule.OpEq, Values: []string{"success"}}
	pred := rule.Pred{Text: "p", Fields: []string{"user.name"}}
	notPred := rule.Not{Cond: pred}
	re := rule.Cmp{Field: "aws.cloudtrail.resources.arn", Op: rule.OpRegex, Values: []string{".*ransom.*"}}
	for _, tt := range []struct {
		in, want []rule.Cond
	}{
		{[]rule.Cond{ip, outcome, key}, []rule.Cond{outcome, key, ip}},
		{[]rule.Cond{notEq, ip, eq, key}, []rule.Cond{eq, key, notEq, ip}},
		{[]rule.Cond{re, notPred, pred, eq}, []rule.Cond{eq, pred, notPred, re}},
		{[]rule.Cond{eq, key}, []rule.Cond{eq, key}},
	} {
		got := ordered(tt.in)
		if rule.Format(rule.And{Conds: got}) != rule.Format(rule.And{Conds: tt.want}) {
			t.Errorf("ordered(%s) = %s, want %s", rule.Format(rule.And{Conds: tt.in}), rule.Format(rule.And{Conds: got}), rule.Format(rule.And{Conds: tt.want}))
		}
	}
}

// costly is path.Match against costlyFields, whose patterns all start with
// costlyPrefix.
func TestCostly(t *testing.T) {
	for _, f := range costlyFields {
		if !strings.HasPrefix(f, costlyPrefix) {
			t.Errorf("costly field %q does not start with %q", f, costlyPrefix)
		}
	}
	for _, tc := range []struct {
		field string
		want  bool
	}{
		{"user_agent.name", true},
		{"user_agent.version", true},
		{"user_agent.os.name", true},
		{"user_agent.os.full", true},
		{"user_agent.device.name", true},
		{"user_agent.original", false},
		{"user_agent.os", false},
		{"user_agent.os.a/b", false},
		{"user_agent.", false},
		{"source.ip", false},
		{"", false},
	} {
		if got := costly(tc.field); got != tc.want {
			t.Errorf("costly(%q) = %v, want %v", tc.field, got, tc.want)
		}
	}
}

// implied keeps of a condition what the event source, name and identity
// type decide, and only what the condition implies.
func TestImplied(t *testing.T) {
	act := func(v string) rule.Cond { return rule.Cmp{Field: "event.action", Op: rule.OpEq, Values: []string{v}} }
	typ := rule.Cmp{Field: "userIdentity.type", Op: rule.OpEq, Values: []string{"IAMUser"}}
	user := rule.Cmp{Field: "user.name", Op: rule.OpEq, Values: []string{"mallory"}}
	and := func(cs ...rule.Cond) rule.Cond { return rule.And{Conds: cs} }
	or := func(cs ...rule.Cond) rule.Cond { return rule.Or{Conds: cs} }
	not := func(c rule.Cond) rule.Cond { return rule.Not{Cond: c} }
	for _, tc := range []struct {
		c, want rule.Cond
	}{
		{act("A"), act("A")},
		{user, nil},
		{and(act("A"), user), act("A")},
		{and(act("A"), typ, user), and(act("A"), typ)},
		{or(and(act("A"), user), and(typ, user)), or(act("A"), typ)},
		{or(and(act("A"), typ), and(typ, user, not(act("A")))), or(and(act("A"), typ), and(typ, not(act("A"))))},
		{or(and(act("A"), user), user), nil},     // a branch implies nothing
		{not(or(and(act("A"), user), typ)), nil}, // a negation implies nothing of its inner parts
		{and(or(act("A"), and(act("B"), user)), user), or(act("A"), act("B"))},
	} {
		if got := implied(tc.c); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("implied(%v) = %v, want %v", tc.c, got, tc.want)
		}
	}
}

// A pair's candidates by identity type are found as a map of them finds
// them, for the types kept in its slice and those past it, types added
// again included.
func TestPairCandsTypes(t *testing.T) {
	var pc pairCands
	want := map[string][]candidate{}
	types := []string{"IAMUser", "AssumedRole", "", "AWSService", "Root", "FederatedUser", "AWSAccount",
		"IdentityCenterUser", "SAMLUser", "WebIdentityUser", "Unknown", "IAMUser", "X", "Root", "Y"}
	for i, typ := range types {
		cands := make([]candidate, i) // told apart by length
		pc.add(typ, cands)
		want[typ] = cands
		for _, typ := range append(types, "absent", "iamuser") {
			got, ok := pc.lookup(typ)
			w, wok := want[typ]
			if ok != wok || len(got) != len(w) {
				t.Fatalf("after %d adds, %q: %d, %v; want %d, %v", i+1, typ, len(got), ok, len(w), wok)
			}
		}
	}
	if len(pc.types) != fewTypes || len(pc.byType) == 0 {
		t.Fatalf("%d types in the slice, %d in the map", len(pc.types), len(pc.byType))
	}
}

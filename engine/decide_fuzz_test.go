package engine

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/rule"
	"github.com/trailhound/trailhound/sigma"
)

// decideRules are rules whose conditions mix conjuncts on the fields
// decided by the event source, name and identity type (KQL wildcards and
// case-insensitive matches, EQL-style regular expressions, Sigma
// modifiers) with conjuncts on other fields.
func decideRules(t testing.TB) []*rule.Rule {
	queries := []string{
		`event.action: List* and user.name: mallory`,
		`not event.action: (ListUsers or "-" or none) and user.name: mallory`,
		`event.provider: iam.amazonaws.com and event.action: List*`,
		`eventName: * and not eventSource: iam.amazonaws.com`,
		`data_stream.dataset: aws.cloudtrail and not event.kind: alert and user.name: *`,
		`aws.cloudtrail.user_identity.type: IAMUser and event.action: List* and user.name: mallory`,
		`not userIdentity.type: Root and eventName: Get*`,
		`userIdentity.type: * or event.category: iam`,
		`event.type: info and not event.category: *`,
		`event.category: (iam or authentication) and event.type: (user or change) and user.name: *`,
		`not aws.cloudtrail.user_identity.type: * and event.action: *`,
		`eventName: getuser`,
		`event.outcome: failure and event.action: *User*`,
		// disjunctions that read other fields, each branch implying a
		// condition on the decided ones
		`(event.action: CreateAccessKey and aws.cloudtrail.user_identity.type: IAMUser and event.outcome: success) or (aws.cloudtrail.user_identity.type: IAMUser and user.name: m* and not (event.provider: iam.amazonaws.com and event.action: CreateAccessKey))`,
		`(eventName: Get* and user.name: mallory) or (userIdentity.type: Root and (user.name: bob or not event.action: *User*))`,
		`(eventName: Get* and user.name: mallory) or user.name: bob`,
		`not ((eventName: Get* and user.name: mallory) or userIdentity.type: IAMUser)`,
		// searches of a value, memoized per scratch (memo.go)
		`user_agent.original: (*S3 Browser* or *Cyberduck*) and event.outcome: success`,
		`userAgent: *kali* and not userAgent: *arm64*`,
	}
	var rules []*rule.Rule
	for i, q := range queries {
		rules = append(rules, queryRule(t.(*testing.T), fmt.Sprintf("kql%d", i), q))
	}
	sigmas := []string{
		"eventName|startswith: get\n    eventSource|endswith: .amazonaws.com",
		"eventName|contains|cased: User\n    userIdentity.type: IAMUser",
		"eventName|re: '(?i)^(get|list).*'\n    userIdentity.userName: mallory",
		"eventSource|exists: true\n    userIdentity.type|exists: false",
		"eventName|windash: '-x'",
		"eventName:\n      - GetUser\n      - ListUsers\n    userIdentity.type|contains: user",
		"eventName|contains|all:\n      - Get\n      - User",
		"eventName: null",
		"userAgent|contains: TruffleHog",
		"userIdentity.arn|re: '.*:assumed-role/[a-z]+$'",
		"userAgent|contains|all:\n      - kali\n      - amd64",
	}
	for i, s := range sigmas {
		doc := fmt.Sprintf("title: s%d\nid: 00000000-0000-0000-0000-%012d\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  sel:\n    %s\n  condition: sel\n", i, i, s)
		rs, err := sigma.Parse(fmt.Sprintf("s%d.yml", i), []byte(doc), sigma.Options{})
		if err != nil {
			t.Fatalf("sigma %d: %v", i, err)
		}
		rules = append(rules, rs...)
	}
	rules = append(rules,
		&rule.Rule{ID: "re", Name: "re", Type: "eql", Cond: rule.Cmp{Field: "userIdentity.arn", Op: rule.OpRegex, Values: []string{`.*:user/m.*`}}},
		&rule.Rule{ID: "rei", Name: "rei", Type: "eql", Cond: rule.Cmp{Field: "user_agent.original", Op: rule.OpRegex, Values: []string{`.*truffle.*`}, CaseInsensitive: true}},
		&rule.Rule{ID: "wildi", Name: "wildi", Type: "eql", Cond: rule.Cmp{Field: "user_agent.original", Op: rule.OpWildcard, Patterns: []rule.Pattern{{Parts: []string{"", "kali"}}}, CaseInsensitive: true}},
	)
	return rules
}

var decideOnce struct {
	sync.Once
	sync.Mutex
	rules []*rule.Rule
	eng   *Engine
	s     *Scratch
}

// FuzzDecidedOnce: on any sequence of records, in one worker whose cache
// outlives each input, the engine matches a record with exactly the rules
// whose condition, evaluated whole on that record, holds.
func FuzzDecidedOnce(f *testing.F) {
	for _, s := range []string{
		`{"eventSource":"iam.amazonaws.com","eventName":"ListUsers","userIdentity":{"userName":"mallory","type":"IAMUser"}}` + "\n" +
			`{"eventSource":"iam.amazonaws.com","eventName":"ListUsers","userIdentity":{"userName":"mallory","type":"Root"}}`,
		`{"eventSource":"iam.amazonaws.com","eventName":"Get\u0055ser","eventTime":"x"}` + "\n" +
			`{"eventSource":"iam.amazonaws.com","eventName":"GetUser","eventTime":"x","userIdentity":{"type":"IAMUser"}}`,
		`{"eventSource":"iam.amazonaws.com","eventName":"GetUser","eventName":"ListUsers","eventTime":"x"}`,
		`{"eventSource":"IAM.amazonaws.com","eventName":"getuser","eventTime":"x","event.action":"ListUsers","event":{"action":"x","category":"iam"},"data_stream":{"dataset":"y"},"@timestamp":"2024-01-01T00:00:00Z"}`,
		`{"eventSource":"iam.amazonaws.com","eventName":"none","userIdentity":{"type":""}}` + "\n" +
			`{"eventSource":"iam.amazonaws.com","eventName":"none","userIdentity":{"type":"-"}}` + "\n" +
			`{"eventSource":"iam.amazonaws.com","eventName":"none","userIdentity":{}}`,
		`{"eventSource":"iam.amazonaws.com","eventName":"ListRoles","userIdentity":[{"type":"IAMUser"},{"type":"Root"}]}` + "\n" +
			`{"eventSource":"iam.amazonaws.com","eventName":"ListRoles","userIdentity":{"type":["IAMUser"]},"userIdentity.type":"Root"}`,
		`{"@timestamp":"2024-01-01T00:00:00Z","event":{"provider":"iam.amazonaws.com","action":"ListUsers","kind":"alert"},"user":{"name":"mallory"}}` + "\n" +
			`{"eventSource":"iam.amazonaws.com","eventName":"ListUsers","userIdentity":{"userName":"mallory","type":"IAMUser"}}`,
		`{"eventTime":"2024-01-01T00:00:00Z","eventID":"i","insightDetails":{"eventSource":"iam.amazonaws.com","eventName":"ListUsers"}}`,
		`{"eventSource":"iam.amazonaws.com","eventName":"CreateUser","errorCode":"AccessDenied","userIdentity":{"type":"IAMUser","userName":"x"}}` + "\n" +
			`{"eventSource":"iam.amazonaws.com","eventName":"CreateUser","userIdentity":{"type":"IAMUser","userName":"x"}}`,
		`{"eventSource":"ec2.amazonaws.com","eventName":"-x","awsRegion":"r"}` + "\n" + `{"eventSource":"ec2.amazonaws.com","eventName":"/x","awsRegion":"r"}`,
		`{"eventSource":"iam.amazonaws.com","eventName":"CreateAccessKey","userIdentity":{"type":"IAMUser","userName":"mallory"}}` + "\n" +
			`{"eventSource":"iam.amazonaws.com","eventName":"CreateAccessKey","userIdentity":{"type":"Root","userName":"mallory"}}` + "\n" +
			`{"eventSource":"iam.amazonaws.com","eventName":"GetUser","userIdentity":{"type":"IAMUser","userName":"mallory"}}` + "\n" +
			`{"eventSource":"iam.amazonaws.com","eventName":"ListUsers","userIdentity":{"type":"Root","userName":"bob"}}`,
		// runs of one user agent and ARN, and what a memo must not take
		// for them: several values, null, a number, nothing
		`{"eventSource":"s3.amazonaws.com","eventName":"GetObject","userAgent":"S3 Browser 9","userIdentity":{"arn":"arn:aws:iam::1:user/mallory"}}` + "\n" +
			`{"eventSource":"s3.amazonaws.com","eventName":"GetObject","userAgent":"S3 Browser 9","userIdentity":{"arn":"arn:aws:iam::1:user/mallory"}}` + "\n" +
			`{"eventSource":"s3.amazonaws.com","eventName":"GetObject","userAgent":"S3 Browser 9","errorCode":"x","userIdentity":{"arn":"arn:aws:iam::1:user/bob"}}` + "\n" +
			`{"eventSource":"s3.amazonaws.com","eventName":"GetObject","userAgent":["aws-cli","S3 Browser 9"]}` + "\n" +
			`{"eventSource":"s3.amazonaws.com","eventName":"GetObject","userAgent":null}` + "\n" +
			`{"eventSource":"s3.amazonaws.com","eventName":"GetObject"}` + "\n" +
			`{"eventSource":"s3.amazonaws.com","eventName":"GetObject","userAgent":"S3 Browser 9"}`,
		`{"eventSource":"sts.amazonaws.com","eventName":"GetCallerIdentity","userAgent":"TruffleHog kali-amd64","userIdentity":{"arn":"arn:aws:sts::1:assumed-role/abc"}}` + "\n" +
			`{"eventSource":"sts.amazonaws.com","eventName":"GetCallerIdentity","userAgent":"trufflehog kali-arm64","userIdentity":{"arn":"arn:aws:sts::1:assumed-role/abc"}}` + "\n" +
			`{"eventSource":"sts.amazonaws.com","eventName":"GetCallerIdentity","userAgent":"trufflehog kali-arm64","userIdentity":{"arn":["arn:aws:sts::1:assumed-role/abc","x"]}}` + "\n" +
			`{"eventSource":"sts.amazonaws.com","eventName":"GetCallerIdentity","userAgent":5,"userIdentity":{"arn":5}}` + "\n" +
			`{"eventSource":"sts.amazonaws.com","eventName":"GetCallerIdentity","userAgent":"5","userIdentity":{"arn":"5"}}` + "\n" +
			`{"eventSource":"sts.amazonaws.com","eventName":"GetCallerIdentity","userAgent":"","userIdentity":{"arn":""}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		d := &decideOnce
		d.Do(func() {
			d.rules = decideRules(t)
			var err error
			if d.eng, err = Compile(d.rules); err != nil {
				t.Fatal(err)
			}
			d.s = NewScratch()
		})
		d.Lock()
		defer d.Unlock()
		var p event.Parser
		for _, line := range strings.Split(in, "\n") {
			ev, err := p.Parse([]byte(line))
			if err != nil {
				continue
			}
			checkUnindexed(t, d.eng, d.s, d.rules, ev, line)
		}
	})
}

// The candidates cache is cleared past 100,000 sources and names: the
// records after the clear, of a pair seen before it with another identity
// type, match as their conditions say.
func TestDecidedOnceCacheClear(t *testing.T) {
	rules := []*rule.Rule{
		queryRule(t, "typed", `aws.cloudtrail.user_identity.type: IAMUser and event.action: List* and user.name: mallory`),
		queryRule(t, "untyped", `event.action: List* and user.name: mallory`),
	}
	eng, err := Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	s := NewScratch()
	var p event.Parser
	check := func(js string) {
		ev, err := p.Parse([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		checkUnindexed(t, eng, s, rules, ev, js)
	}
	const tmpl = `{"eventSource":"iam.amazonaws.com","eventName":"List%d","userIdentity":{"userName":"mallory","type":%q}}`
	for i := range 100_005 {
		typ := []string{"IAMUser", "Root", ""}[i%3]
		js := fmt.Sprintf(tmpl, i%100_002, typ)
		if i < 10 || i > 99_990 {
			check(js)
			continue
		}
		ev, err := p.Parse([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		eng.Match(ev, s, func(*rule.Rule) {})
	}
	for _, typ := range []string{"IAMUser", "Root", ""} {
		for _, i := range []int{0, 1, 2, 99_999, 100_001} {
			check(fmt.Sprintf(tmpl, i, typ))
		}
	}
}

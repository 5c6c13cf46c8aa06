package eql

import (
	"strings"
	"testing"

	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/event"
)

func match(t *testing.T, q, rec string) bool {
	t.Helper()
	pq, err := Parse(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	c, err := Lower(pq.Category, pq.Where, "event.type")
	if err != nil {
		t.Fatal(err)
	}
	var p event.Parser
	ev, err := p.Parse([]byte(rec))
	if err != nil {
		t.Fatal(err)
	}
	ok, err := engine.Eval(c, ev)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

const addPermission = `{"eventVersion":"1.08","eventSource":"lambda.amazonaws.com","eventName":"AddPermission20150331v2","awsRegion":"us-east-1",
 "userIdentity":{"type":"IAMUser","userName":"mallory","accountId":"111122223333","arn":"arn:aws:iam::111122223333:user/mallory"},
 "requestParameters":{"functionName":"f","statementId":"s","action":"lambda:InvokeFunction","principal":"*"},"recipientAccountId":"111122223333",
 "responseElements":{"statement":"x"}}`

func TestSingleEvent(t *testing.T) {
	tests := []struct {
		q    string
		want bool
	}{
		// the seed's current Lambda rule, with event_category_override = event.type
		{`info where data_stream.dataset == "aws.cloudtrail" and event.provider == "lambda.amazonaws.com" and event.outcome == "success" and event.action : "AddPermission*" and stringContains(aws.cloudtrail.request_parameters, "lambda:InvokeFunction") and stringContains(aws.cloudtrail.request_parameters, "principal=\\*")`, true},
		{`any where stringContains(aws.cloudtrail.request_parameters, "principal=\\*")`, true},
		{`any where stringContains(aws.cloudtrail.request_parameters, "principal=a")`, false},
		{`any where stringContains(aws.cloudtrail.request_parameters, "lambda:Invoke*")`, true}, // * is a wildcard
		{`any where stringContains(aws.cloudtrail.request_parameters, "LAMBDA:INVOKEFUNCTION")`, false},
		{`any where stringContains~(aws.cloudtrail.request_parameters, "LAMBDA:INVOKEFUNCTION")`, true},
		{`any where event.action == "addpermission20150331v2"`, false}, // == is case-sensitive
		{`any where event.action : "addpermission*"`, true},            // : is not
		{`any where event.action like "AddPermission????????v2"`, true},
		{`any where event.action like~ "addpermission*"`, true},
		{`any where event.action in ("X", "AddPermission20150331v2")`, true},
		{`any where event.action in~ ("addpermission20150331v2")`, true},
		{`any where event.action not in ("X", "Y")`, true},
		{`any where event.action regex "Add[A-Za-z]+[0-9]{8}v2"`, true},
		{`any where event.action regex~ "add.*"`, true},
		{`any where startsWith(event.action, "Add") and endsWith(event.action, "v2")`, true},
		{`any where stringContains(aws.cloudtrail.request_parameters, aws.cloudtrail.recipient_account_id)`, false},
		{`any where stringContains(aws.cloudtrail.user_identity.arn, aws.cloudtrail.recipient_account_id)`, true},
		{`any where length(event.action) == 23 and substring(event.action, 0, 3) == "Add"`, true},
		{`any where concat(user.name, "@", cloud.region) == "mallory@us-east-1"`, true},
		{`any where not user.name == "alice"`, true},
		{`any where missing.field == null`, true},
		{`iam where true`, false}, // event.type of AddPermission is not iam
		{"any where `user.name` : \"MALLORY\"", true},
		{`/* comment */ any where user.name != "mallory"`, false},
	}
	for _, tt := range tests {
		if got := match(t, tt.q, addPermission); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.q, got, tt.want)
		}
	}
}

func TestSequenceParse(t *testing.T) {
	q, err := Parse(`sequence by aws.cloudtrail.user_identity.access_key_id with maxspan=15m
  [any where event.action == "ListFoundationModels"] by user.name
  [any where event.action == "InvokeModel"] by user.name with runs=2
  until [any where event.action == "DeleteAccessKey"] by user.name`)
	if err != nil {
		t.Fatal(err)
	}
	s := q.Sequence
	if s == nil || len(s.Steps) != 2 || s.MaxSpan.Minutes() != 15 || s.Until == nil || s.Steps[1].Runs != 2 || len(s.By) != 1 {
		t.Errorf("sequence %+v", s)
	}
}

func TestErrors(t *testing.T) {
	for _, tt := range []struct{ q, want string }{
		{`any where`, "1:10"},
		{`any where x == "unterminated`, "unterminated string"},
		{`any where nosuch(x)`, "function nosuch is not supported"},
		{"sequence\n [any where true]", "at least two steps"},
		{`process where true | head 5`, "unexpected"},
		{`sequence [any where a == 1] by x [any where a == 2]`, "join keys"},
	} {
		_, err := Parse(tt.q)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want %q", tt.q, err, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{`any where a == "b" and stringContains(c, "d*")`, `sequence by x with maxspan=1m [any where true] [any where a : ("b", "c")] until [any where d like~ "e?"]`, `info where not f in~ ("a") or x regex "a.*"`,
		"any where " + nested["parentheses"](maxDepth), "any where " + nested["or chain"](maxDepth-1), "any where " + nested["calls"](maxDepth)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := Parse(s)
		if err != nil || q.Sequence != nil {
			return
		}
		if _, err := Lower(q.Category, q.Where, "event.category"); err != nil {
			return
		}
	})
}

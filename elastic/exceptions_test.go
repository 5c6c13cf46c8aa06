package elastic

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/trailhound/trailhound/engine"
	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/rule"
)

const exportNDJSON = `{"list_id":"trusted-automation","name":"Trusted automation","type":"detection","namespace_type":"single"}
{"item_id":"1","list_id":"trusted-automation","name":"terraform role","type":"simple","namespace_type":"single","entries":[{"field":"aws.cloudtrail.user_identity.arn","operator":"included","type":"wildcard","value":"arn:aws:sts::*:assumed-role/terraform-?/*"},{"field":"source.address","operator":"included","type":"match_any","value":["198.51.100.20","198.51.100.21"]}]}
{"item_id":"2","list_id":"trusted-automation","name":"break-glass user not from the office","type":"simple","namespace_type":"single","entries":[{"field":"user.name","operator":"included","type":"match","value":"breakglass"},{"field":"source.address","operator":"excluded","type":"match","value":"203.0.113.9"}]}
{"item_id":"3","list_id":"trusted-automation","name":"console","type":"simple","namespace_type":"single","entries":[{"field":"aws.cloudtrail.user_identity.invoked_by","operator":"included","type":"exists"}]}
{"exported_exception_list_count":1,"exported_exception_list_item_count":3}
`

func TestExceptions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "exceptions.ndjson")
	os.WriteFile(path, []byte(exportNDJSON), 0o644)
	conds, err := LoadExceptions(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(conds) != 3 {
		t.Fatalf("%d items, want 3", len(conds))
	}
	r, err := Parse("r.toml", []byte("[rule]\nrule_id = \"r\"\nname = \"R\"\ntype = \"query\"\nlanguage = \"kuery\"\nquery = \"event.action: PutBucketPolicy\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.Compile([]*rule.Rule{r})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.AddExceptions(conds); err != nil {
		t.Fatal(err)
	}
	rec := func(arn, user, ip, invokedBy string) string {
		return `{"eventSource":"s3.amazonaws.com","eventName":"PutBucketPolicy","sourceIPAddress":"` + ip + `",
			"userIdentity":{"arn":"` + arn + `","userName":"` + user + `","invokedBy":"` + invokedBy + `"}}`
	}
	tests := []struct {
		name, rec string
		alert     bool
	}{
		{"terraform from the runner", rec("arn:aws:sts::1:assumed-role/terraform-a/s", "", "198.51.100.21", ""), false},
		{"terraform from elsewhere", rec("arn:aws:sts::1:assumed-role/terraform-a/s", "", "192.0.2.1", ""), true},
		{"? is one character", rec("arn:aws:sts::1:assumed-role/terraform-ab/s", "", "198.51.100.20", ""), true},
		{"case-sensitive", rec("arn:aws:sts::1:assumed-role/Terraform-a/s", "", "198.51.100.20", ""), true},
		{"break-glass elsewhere", rec("", "breakglass", "192.0.2.1", ""), false},
		{"break-glass from the office", rec("", "breakglass", "203.0.113.9", ""), true},
		{"invoked by a service", rec("", "", "192.0.2.1", "cloudformation.amazonaws.com"), false},
		{"nothing excepted", rec("", "alice", "192.0.2.1", ""), true},
	}
	s := engine.NewScratch()
	for _, tt := range tests {
		var p event.Parser
		ev, err := p.Parse([]byte(tt.rec))
		if err != nil {
			t.Fatal(err)
		}
		got := false
		eng.Match(ev, s, func(*rule.Rule) { got = true })
		if got != tt.alert {
			t.Errorf("%s: alert %v, want %v", tt.name, got, tt.alert)
		}
	}
}

func TestExceptionErrors(t *testing.T) {
	for _, bad := range []string{
		`{"name":"x","entries":[{"field":"a","operator":"included","type":"list","value":{"id":"ips","type":"ip"}}]}`,
		`{"name":"x","entries":[{"field":"a","operator":"sometimes","type":"match","value":"v"}]}`,
		`{"name":"x","entries":[{"field":"a","type":"match_any","value":"v"}]}`,
		`not json`,
	} {
		path := filepath.Join(t.TempDir(), "e.ndjson")
		os.WriteFile(path, []byte("\n"+bad+"\n"), 0o644)
		_, err := LoadExceptions(path)
		if err == nil || !strings.Contains(err.Error(), path+":2:") {
			t.Errorf("%s: error %v does not name file and line", bad, err)
		}
	}
}

// Items of a list that rules reference apply to those rules only; items of a
// list no rule references apply to every rule.
func TestExceptionListsPerRule(t *testing.T) {
	path := filepath.Join(t.TempDir(), "exceptions.ndjson")
	os.WriteFile(path, []byte(`{"item_id":"1","list_id":"ci-runners","name":"ci","type":"simple","entries":[{"field":"source.address","operator":"included","type":"match","value":"198.51.100.7"}]}
{"item_id":"2","list_id":"everyone","name":"scanner","type":"simple","entries":[{"field":"source.address","operator":"included","type":"match","value":"192.0.2.99"}]}
`), 0o644)
	items, err := LoadExceptions(path)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(id, lists string) *rule.Rule {
		r, err := Parse(id+".toml", []byte("[rule]\nrule_id = \""+id+"\"\nname = \""+id+"\"\ntype = \"query\"\nlanguage = \"kuery\"\nquery = \"event.action: PutBucketPolicy\"\n"+lists))
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Warnings) > 0 {
			t.Fatal(r.Warnings)
		}
		return r
	}
	withList := mk("with", "[[rule.exceptions_list]]\nid = \"x\"\nlist_id = \"ci-runners\"\nnamespace_type = \"single\"\ntype = \"detection\"\n")
	without := mk("without", "")
	eng, err := engine.Compile([]*rule.Rule{withList, without})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.AddExceptions(items); err != nil {
		t.Fatal(err)
	}
	s := engine.NewScratch()
	for _, tt := range []struct {
		ip   string
		want string
	}{
		{"198.51.100.7", "without"}, // the CI item applies to the rule that references its list
		{"192.0.2.99", ""},          // the unreferenced list applies to all
		{"203.0.113.1", "with,without"},
	} {
		var p event.Parser
		ev, err := p.Parse([]byte(`{"eventSource":"s3.amazonaws.com","eventName":"PutBucketPolicy","sourceIPAddress":"` + tt.ip + `"}`))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		eng.Match(ev, s, func(r *rule.Rule) { got = append(got, r.ID) })
		slices.Sort(got)
		if strings.Join(got, ",") != tt.want {
			t.Errorf("%s: rules %v, want %s", tt.ip, got, tt.want)
		}
	}
}

// An item that cannot be read is an error naming the file, line and item_id.
func TestExceptionErrorsNameItem(t *testing.T) {
	tests := []struct{ entry, want string }{
		{`{"field":"user.name","operator":"sometimes","type":"match","value":"x"}`, `x.ndjson:2: item_id it-7 ("bad") entry 1: unknown operator "sometimes"`},
		{`{"field":"user.name","operator":"included","type":"list","list":{"id":"l"}}`, `item_id it-7 ("bad") entry 1: value lists (type list) are not supported`},
		{`{"operator":"included","type":"match","value":"x"}`, `item_id it-7 ("bad") entry 1: no field`},
		{`{"field":"user.name","operator":"included","type":"match","value":7}`, `item_id it-7 ("bad") entry 1: match needs a string value`},
	}
	for _, tt := range tests {
		path := filepath.Join(t.TempDir(), "x.ndjson")
		os.WriteFile(path, []byte(`{"list_id":"l","type":"detection"}`+"\n"+`{"item_id":"it-7","list_id":"l","name":"bad","type":"simple","entries":[`+tt.entry+`]}`+"\n"), 0o644)
		_, err := LoadExceptions(path)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.entry, err, tt.want)
		}
	}
}

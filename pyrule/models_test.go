package pyrule

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/trailhound/trailhound/rule"
)

// probeRule is a rule whose alert context is the UDM fields of its event.
const (
	probeYAML = `AnalysisType: rule
Filename: udm_probe.py
RuleID: Test.UDMProbe
Enabled: true
LogTypes: [AWS.CloudTrail, Okta.SystemLog]
Severity: Info
`
	probePy = `FIELDS = ("event_type", "source_ip", "actor_user", "user", "user_account_id")


def rule(event):
    return True


def alert_context(event):
    ctx = {f: event.udm(f) for f in FIELDS}
    ctx["source_ip_path"] = event.udm_path("source_ip")
    return ctx
`
)

// probeCheckout writes a checkout holding the probe rule, and the files
// given (path in the checkout: content), and loads it.
func probeCheckout(t *testing.T, files map[string]string) (*rule.Rule, *Runtime) {
	t.Helper()
	dir := t.TempDir()
	files["rules/udm_probe.yml"] = probeYAML
	files["rules/udm_probe.py"] = probePy
	files["global_helpers/.keep"] = ""
	writeFiles(t, dir, files)
	rules, rt := load(t, dir, Options{Tests: true, Workers: 1})
	r := byID(rules)["Test.UDMProbe"]
	if r == nil || !rt.Runs(r) {
		t.Fatalf("the probe rule did not load: %+v", rules)
	}
	return r, rt
}

// udm returns the UDM fields of an event of a log type, as the probe
// rule's alert context.
func udm(t *testing.T, rt *Runtime, r *rule.Rule, logType, event string) map[string]any {
	t.Helper()
	var res result
	if err := rt.testCall(testReq{Rule: rt.byRule[r].idx, Log: json.RawMessage(event), LogType: logType}, &res); err != nil {
		t.Fatal(err)
	}
	if res.E != "" || len(res.AE) > 0 || !res.M {
		t.Fatalf("%s: probe rule: %q %q", logType, res.E, res.AE)
	}
	return res.Ctx
}

// Each built-in data model maps events of its log type (written here from
// each vendor's log documentation) to the UDM values the standard rules
// read; events that are not sign-ins (or account creations) have no
// event_type.
func TestBuiltinModels(t *testing.T) {
	needPython(t)
	r, rt := probeCheckout(t, map[string]string{})
	tests := []struct {
		logType, event, want string
	}{
		{"Okta.SystemLog",
			`{"eventType":"user.session.start","outcome":{"result":"FAILURE","reason":"INVALID_CREDENTIALS"},"client":{"ipAddress":"198.51.100.7"},"actor":{"alternateId":"ann@example.org","displayName":"Ann"}}`,
			`{"event_type":"failed_login","source_ip":"198.51.100.7","actor_user":"ann@example.org","source_ip_path":"client.ipAddress"}`},
		{"Okta.SystemLog",
			`{"eventType":"user.session.start","outcome":{"result":"SUCCESS"},"client":{"ipAddress":"198.51.100.7"},"actor":{"alternateId":"ann@example.org"}}`,
			`{"event_type":"successful_login","source_ip":"198.51.100.7","actor_user":"ann@example.org","source_ip_path":"client.ipAddress"}`},
		{"Okta.SystemLog", // a sign-on to an app is not a sign-in to Okta
			`{"eventType":"user.authentication.sso","outcome":{"result":"SUCCESS"},"client":{"ipAddress":"198.51.100.7"},"actor":{"alternateId":"ann@example.org"}}`,
			`{"source_ip":"198.51.100.7","actor_user":"ann@example.org","source_ip_path":"client.ipAddress"}`},
		{"GSuite.ActivityEvent",
			`{"id":{"applicationName":"login"},"name":"login_failure","type":"login","ipAddress":"203.0.113.4","actor":{"email":"bo@example.org"}}`,
			`{"event_type":"failed_login","source_ip":"203.0.113.4","actor_user":"bo@example.org","source_ip_path":"ipAddress"}`},
		{"GSuite.ActivityEvent",
			`{"id":{"applicationName":"login"},"name":"login_success","ipAddress":"203.0.113.4","actor":{"email":"bo@example.org"}}`,
			`{"event_type":"successful_login","source_ip":"203.0.113.4","actor_user":"bo@example.org","source_ip_path":"ipAddress"}`},
		{"GSuite.ActivityEvent", // login_success of another application is not a sign-in
			`{"id":{"applicationName":"drive"},"name":"login_success","ipAddress":"203.0.113.4"}`,
			`{"source_ip":"203.0.113.4","source_ip_path":"ipAddress"}`},
		{"OneLogin.Events",
			`{"event_type_id":6,"ipaddr":"192.0.2.10","actor_user_name":"Cy Doe","user_name":"Cy Doe","user_id":42}`,
			`{"event_type":"failed_login","source_ip":"192.0.2.10","actor_user":"Cy Doe","user":"Cy Doe","user_account_id":42,"source_ip_path":"ipaddr"}`},
		{"OneLogin.Events", // the id written as a string
			`{"event_type_id":"5","ipaddr":"192.0.2.10","actor_user_name":"Cy Doe"}`,
			`{"event_type":"successful_login","source_ip":"192.0.2.10","actor_user":"Cy Doe","source_ip_path":"ipaddr"}`},
		{"OneLogin.Events",
			`{"event_type_id":13,"actor_user_name":"Admin","user_name":"New Person","user_id":77}`,
			`{"event_type":"user_account_created","actor_user":"Admin","user":"New Person","user_account_id":77,"source_ip_path":"ipaddr"}`},
		{"OneLogin.Events",
			`{"event_type_id":"x","actor_user_name":"Admin"}`,
			`{"actor_user":"Admin","source_ip_path":"ipaddr"}`},
		{"Asana.Audit",
			`{"event_type":"user_login_failed","event_category":"logins","context":{"client_ip_address":"192.0.2.55"},"actor":{"email":"di@example.org","name":"Di"}}`,
			`{"event_type":"failed_login","source_ip":"192.0.2.55","actor_user":"di@example.org","source_ip_path":"context.client_ip_address"}`},
		{"Asana.Audit",
			`{"event_type":"user_login_succeeded","context":{"client_ip_address":"192.0.2.55"},"actor":{"email":"di@example.org"}}`,
			`{"event_type":"successful_login","source_ip":"192.0.2.55","actor_user":"di@example.org","source_ip_path":"context.client_ip_address"}`},
		{"Box.Event",
			`{"event_type":"FAILED_LOGIN","ip_address":"203.0.113.90","created_by":{"type":"user","login":"ed@example.org","name":"Ed"}}`,
			`{"event_type":"failed_login","source_ip":"203.0.113.90","actor_user":"ed@example.org","source_ip_path":"ip_address"}`},
		{"Box.Event",
			`{"event_type":"LOGIN","ip_address":"203.0.113.90","created_by":{"login":"ed@example.org"}}`,
			`{"event_type":"successful_login","source_ip":"203.0.113.90","actor_user":"ed@example.org","source_ip_path":"ip_address"}`},
		{"Box.Event",
			`{"event_type":"UPLOAD","ip_address":"203.0.113.90","created_by":{"login":"ed@example.org"}}`,
			`{"source_ip":"203.0.113.90","actor_user":"ed@example.org","source_ip_path":"ip_address"}`},
		{"OnePassword.SignInAttempt",
			`{"category":"credentials_failed","type":"password_secret_bad","client":{"ip_address":"198.51.100.30"},"target_user":{"email":"fay@example.org"}}`,
			`{"event_type":"failed_login","source_ip":"198.51.100.30","actor_user":"fay@example.org","source_ip_path":"client.ip_address"}`},
		{"OnePassword.SignInAttempt",
			`{"category":"mfa_failed","client":{"ip_address":"198.51.100.30"},"target_user":{"email":"fay@example.org"}}`,
			`{"event_type":"failed_login","source_ip":"198.51.100.30","actor_user":"fay@example.org","source_ip_path":"client.ip_address"}`},
		{"OnePassword.SignInAttempt",
			`{"category":"success","type":"credentials_ok","client":{"ip_address":"198.51.100.30"},"target_user":{"email":"fay@example.org"}}`,
			`{"event_type":"successful_login","source_ip":"198.51.100.30","actor_user":"fay@example.org","source_ip_path":"client.ip_address"}`},
		{"OnePassword.SignInAttempt", // blocked by a firewall rule: not the user failing to authenticate
			`{"category":"firewall_failed","client":{"ip_address":"198.51.100.30"}}`,
			`{"source_ip":"198.51.100.30","source_ip_path":"client.ip_address"}`},
		{"Notion.AuditLogs",
			`{"event":{"type":"user.login","ip_address":"192.0.2.77","actor":{"type":"person","person":{"email":"gus@example.org"}}}}`,
			`{"event_type":"successful_login","source_ip":"192.0.2.77","actor_user":"gus@example.org","source_ip_path":"event.ip_address"}`},
		{"Notion.AuditLogs",
			`{"event":{"type":"page.exported","ip_address":"192.0.2.77"}}`,
			`{"source_ip":"192.0.2.77","source_ip_path":"event.ip_address"}`},
		{"Azure.Audit",
			`{"category":"SignInLogs","operationname":"Sign-in activity","properties":{"ipAddress":"203.0.113.61","userPrincipalName":"hal@example.org","status":{"errorCode":50126}}}`,
			`{"event_type":"failed_login","source_ip":"203.0.113.61","actor_user":"hal@example.org","source_ip_path":"properties.ipAddress"}`},
		{"Azure.Audit",
			`{"category":"ServicePrincipalSignInLogs","properties":{"ipAddress":"203.0.113.61","servicePrincipalName":"build-bot","status":{"errorCode":0}}}`,
			`{"event_type":"successful_login","source_ip":"203.0.113.61","actor_user":"build-bot","source_ip_path":"properties.ipAddress"}`},
		{"Azure.Audit", // an audit log entry, not a sign-in
			`{"category":"AuditLogs","properties":{"status":{"errorCode":0}}}`,
			`{"source_ip_path":"properties.ipAddress"}`},
		{"Zoom.Activity",
			`{"type":"Sign in","email":"ivy@example.org","ip_address":"192.0.2.200","client_type":"mac"}`,
			`{"event_type":"successful_login","source_ip":"192.0.2.200","actor_user":"ivy@example.org","source_ip_path":"ip_address"}`},
		{"Zoom.Activity",
			`{"type":"Sign out","email":"ivy@example.org","ip_address":"192.0.2.200"}`,
			`{"source_ip":"192.0.2.200","actor_user":"ivy@example.org","source_ip_path":"ip_address"}`},
		{"Zoom.Operation",
			`{"action":"Add","category_type":"User","operation_detail":"Add User jo@example.org - User Type: Basic","operator":"admin@example.org"}`,
			`{"event_type":"user_account_created","user":"jo@example.org"}`},
		{"Zoom.Operation",
			`{"action":"Delete","category_type":"User","operation_detail":"Delete User jo@example.org","operator":"admin@example.org"}`,
			`{}`},
		{"GCP.AuditLog", // no built-in model: udm() finds nothing
			`{"protoPayload":{"methodName":"SetIamPolicy","requestMetadata":{"callerIP":"192.0.2.1"}}}`,
			`{}`},
	}
	fields := []string{"event_type", "source_ip", "actor_user", "user", "user_account_id", "source_ip_path"}
	for _, tt := range tests {
		got := udm(t, rt, r, tt.logType, tt.event)
		var want map[string]any
		d := json.NewDecoder(strings.NewReader(tt.want))
		d.UseNumber() // as the worker's answers are read
		if err := d.Decode(&want); err != nil {
			t.Fatal(err)
		}
		for _, f := range fields {
			if !reflect.DeepEqual(got[f], want[f]) {
				t.Errorf("%s %s: %s = %v, want %v", tt.logType, tt.event, f, got[f], want[f])
			}
		}
	}
	// every built-in model serves its log type, and says so
	n := 0
	for _, m := range rt.DataModels() {
		if !m.Builtin || m.Overrides || !strings.Contains(m.String(), "trailhound's built-in") {
			t.Errorf("%+v: want a built-in model", m)
		}
		n++
	}
	if n != 10 {
		t.Errorf("%d log types with a data model, want the 10 built-in ones: %v", n, rt.DataModels())
	}
}

// A checkout's own data model for a log type replaces trailhound's
// built-in one; the other log types keep theirs.
func TestCheckoutModelOverridesBuiltin(t *testing.T) {
	needPython(t)
	r, rt := probeCheckout(t, map[string]string{
		"data_models/okta.yml": `AnalysisType: datamodel
LogTypes: [Okta.SystemLog]
DataModelID: Test.Okta
Filename: okta.py
Enabled: true
Mappings:
  - Name: actor_user
    Path: $.actor.displayName
  - Name: event_type
    Method: kind
`,
		"data_models/okta.py": "def kind(event):\n    return 'okta:' + event.get('eventType', '')\n",
	})
	got := udm(t, rt, r, "Okta.SystemLog",
		`{"eventType":"user.session.start","outcome":{"result":"FAILURE"},"client":{"ipAddress":"198.51.100.7"},"actor":{"alternateId":"ann@example.org","displayName":"Ann"}}`)
	want := map[string]any{"event_type": "okta:user.session.start", "actor_user": "Ann", "source_ip": nil, "source_ip_path": nil}
	for f, v := range want {
		if !reflect.DeepEqual(got[f], v) {
			t.Errorf("Okta.SystemLog: %s = %v, want %v (the checkout's model)", f, got[f], v)
		}
	}
	if got := udm(t, rt, r, "Box.Event", `{"event_type":"LOGIN","ip_address":"203.0.113.90"}`); got["event_type"] != "successful_login" {
		t.Errorf("Box.Event: event_type %v, want the built-in model's successful_login", got["event_type"])
	}
	m, ok := rt.modelOf("Okta.SystemLog")
	if !ok || m.Builtin || !m.Overrides || filepath.Base(m.File) != "okta.yml" ||
		!strings.Contains(m.String(), "instead of trailhound's built-in one") {
		t.Errorf("Okta.SystemLog model: %+v %q", m, m.String())
	}
	if m, _ := rt.modelOf("Box.Event"); !m.Builtin {
		t.Errorf("Box.Event model: %+v", m)
	}
}

// Events whose fields have another type than the log type's documentation
// gives (a list, a number or an object where a string or an object is
// expected) are not the sign-ins or account creations the built-in models
// look for: their UDM fields are empty, without a rule error, and the
// worker goes on.
func TestBuiltinModelsWrongTypes(t *testing.T) {
	needPython(t)
	r, rt := probeCheckout(t, map[string]string{})
	cases := []struct{ logType, event, none string }{
		{"Asana.Audit", `{"event_type":["user_login_succeeded"],"context":["x"],"actor":"ann"}`, ""},
		{"Azure.Audit", `{"category":["SignInLogs"]}`, ""},
		{"Azure.Audit", `{"category":"SignInLogs","properties":["x"]}`, ""},
		{"Azure.Audit", `{"category":"SignInLogs","properties":{"status":"failed","userPrincipalName":["ann"]}}`, ""},
		{"Box.Event", `{"event_type":{"a":1},"created_by":[1]}`, ""},
		{"GSuite.ActivityEvent", `{"id":["login"],"name":"login_success","actor":7}`, ""},
		{"GSuite.ActivityEvent", `{"id":{"applicationName":"login"},"name":["login_success"]}`, ""},
		{"Notion.AuditLogs", `{"event":"user.login"}`, ""},
		{"Notion.AuditLogs", `{"event":{"type":["user.login"],"actor":["x"]}}`, ""},
		{"Okta.SystemLog", `{"eventType":"user.session.start","outcome":["SUCCESS"],"client":"x"}`, ""},
		{"Okta.SystemLog", `{"eventType":["user.session.start"]}`, ""},
		{"OneLogin.Events", `{"event_type_id":[5]}`, ""},
		{"OnePassword.SignInAttempt", `{"category":["success"],"client":[1]}`, ""},
		{"Zoom.Activity", `{"type":["Sign in"]}`, ""},
		{"Zoom.Operation", `{"category_type":"User","action":"Add","operation_detail":["Add","User","ann"]}`, "user"},
		{"Zoom.Operation", `{"category_type":["User"],"action":{"Add":1}}`, ""},
	}
	for _, c := range cases {
		var res result
		if err := rt.testCall(testReq{Rule: rt.byRule[r].idx, Log: json.RawMessage(c.event), LogType: c.logType}, &res); err != nil {
			t.Fatalf("%s %s: %v", c.logType, c.event, err)
		}
		if c.none == "" {
			c.none = "event_type"
		}
		if res.E != "" || len(res.AE) > 0 || res.Ctx[c.none] != nil {
			t.Errorf("%s %s: rule error %q, alert function errors %q, %s %v; want no error and no %s", c.logType, c.event, res.E, res.AE, c.none, res.Ctx[c.none], c.none)
		}
	}
	// the worker still answers
	if got := udm(t, rt, r, "Box.Event", `{"event_type":"LOGIN"}`); got["event_type"] != "successful_login" {
		t.Errorf("after the odd events: Box.Event event_type %v, want successful_login", got["event_type"])
	}
}

// A checkout's data model that does not load is not replaced by
// trailhound's built-in one for its log types (the checkout says what the
// user wants): a warning names the file, its error and that no model
// serves them, and the list of models says so.
func TestCheckoutModelBroken(t *testing.T) {
	needPython(t)
	r, rt := probeCheckout(t, map[string]string{
		"data_models/okta.yml": "AnalysisType: datamodel\nLogTypes: [Okta.SystemLog]\nDataModelID: Test.Okta\nFilename: okta.py\nEnabled: true\nMappings:\n  - Name: event_type\n    Method: kind\n",
		"data_models/okta.py":  "def kind(event)\n    return 'x'\n",
	})
	w := strings.Join(rt.Warnings(), "\n")
	for _, want := range []string{"okta.py", "SyntaxError", "Okta.SystemLog", "built-in"} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings %q do not name %s", w, want)
		}
	}
	m, ok := rt.modelOf("Okta.SystemLog")
	if !ok || m.Builtin || m.Broken == "" || !strings.Contains(m.String(), "did not load") {
		t.Errorf("Okta.SystemLog model: %+v %q", m, m.String())
	}
	var res result
	if err := rt.testCall(testReq{Rule: rt.byRule[r].idx, Log: json.RawMessage(`{"eventType":"user.session.start","outcome":{"result":"SUCCESS"}}`), LogType: "Okta.SystemLog"}, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.AE) == 0 || res.Ctx["event_type"] == "successful_login" {
		t.Errorf("udm() on Okta.SystemLog: %q %v; want the broken model's error, not the built-in model's answer", res.AE, res.Ctx)
	}
}

// Two of the checkouts' data models for one log type: the first (in path
// order, as the worker takes them) serves it, and a warning names both.
func TestCheckoutModelsSameLogType(t *testing.T) {
	needPython(t)
	model := func(id, method string) string {
		return "AnalysisType: datamodel\nLogTypes: [Okta.SystemLog]\nDataModelID: " + id + "\nEnabled: true\nMappings:\n  - Name: actor_user\n    Path: $." + method + "\n"
	}
	_, rt := probeCheckout(t, map[string]string{
		"data_models/a_okta.yml": model("Test.A", "actor.displayName"),
		"data_models/b_okta.yml": model("Test.B", "actor.alternateId"),
	})
	w := strings.Join(rt.Warnings(), "\n")
	if !strings.Contains(w, "a_okta.yml") || !strings.Contains(w, "b_okta.yml") || !strings.Contains(w, "Okta.SystemLog") {
		t.Errorf("warnings %q do not name both models of Okta.SystemLog", w)
	}
	if m, _ := rt.modelOf("Okta.SystemLog"); filepath.Base(m.File) != "a_okta.yml" {
		t.Errorf("Okta.SystemLog served by %+v, want a_okta.yml", m)
	}
}

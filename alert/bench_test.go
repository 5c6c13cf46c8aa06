package alert

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/trailhound/trailhound/event"
	"github.com/trailhound/trailhound/rule"
)

// benchAlerts builds n alerts as a hunt does: New on CloudTrail records
// (written here, of a typical record's size and shape) for an Elastic-like
// rule with tags, threat, references and a long investigation guide.
func benchAlerts(b *testing.B, n int) []Alert {
	evs, r := benchEvents(b, n)
	as := make([]Alert, n)
	for i, ev := range evs {
		as[i] = New(ev, r)
	}
	return as
}

// benchEvents returns n parsed events, each of its own Parser (so that they
// all stay valid), and benchAlerts' rule.
func benchEvents(b *testing.B, n int) ([]*event.Event, *rule.Rule) {
	r := &rule.Rule{ID: "594e0cbf-86cc-45aa-9ff7-ff27db27d3ed", Name: "AWS IAM User Created", Type: "query", Format: "elastic",
		Severity: "low", RiskScore: 21, Path: "rules/integrations/aws/persistence_iam_user_created.toml",
		Tags:       []string{"Domain: Cloud", "Data Source: AWS", "Data Source: Amazon Web Services", "Use Case: Identity and Access Audit", "Tactic: Persistence"},
		References: []string{"https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateUser.html"},
		Threat: []rule.Threat{{Framework: "MITRE ATT&CK", Tactic: rule.Ref{ID: "TA0003", Name: "Persistence", Reference: "https://attack.mitre.org/tactics/TA0003/"},
			Techniques: []rule.Technique{{Ref: rule.Ref{ID: "T1136", Name: "Create Account", Reference: "https://attack.mitre.org/techniques/T1136/"},
				Subtechniques: []rule.Ref{{ID: "T1136.003", Name: "Cloud Account", Reference: "https://attack.mitre.org/techniques/T1136/003/"}}}}}},
		Note: strings.Repeat("## Triage and analysis\n\nLook at `user.name` and \"source.address\": who created the user, from where?\n- Check the role's trust policy.\n", 25),
	}
	evs := make([]*event.Event, n)
	for i := range evs {
		var p event.Parser
		rec := fmt.Sprintf(`{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDA%012d","arn":"arn:aws:iam::123456789012:user/admin-%d","accountId":"123456789012","accessKeyId":"AKIA%012d","userName":"admin-%d","sessionContext":{"sessionIssuer":{},"webIdFederationData":{},"attributes":{"creationDate":"2026-11-03T09:00:00Z","mfaAuthenticated":"false"}}},"eventTime":"2026-11-03T10:%02d:%02dZ","eventSource":"iam.amazonaws.com","eventName":"CreateUser","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.%d","userAgent":"aws-cli/2.13.0 Python/3.11.4 Linux/6.1 exe/x86_64.ubuntu.22 prompt/off command/iam.create-user","requestParameters":{"userName":"backdoor-%d","tags":[{"key":"team","value":"ops"}]},"responseElements":{"user":{"path":"/","userName":"backdoor-%d","userId":"AIDA%012d","arn":"arn:aws:iam::123456789012:user/backdoor-%d","createDate":"Nov 3, 2026 10:00:00 AM"}},"requestID":"%08x-1111-2222-3333-444455556666","eventID":"%08x-aaaa-bbbb-cccc-ddddeeeeffff","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"123456789012","eventCategory":"Management","tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"iam.amazonaws.com"}}`,
			i, i, i, i, i/60%60, i%60, i%256, i, i, i, i, i, i)
		ev, err := p.Parse([]byte(rec))
		if err != nil {
			b.Fatal(err)
		}
		ev.File, ev.Line, ev.Offset = "logs/123456789012_CloudTrail_us-east-1_20261103T1000Z.json", i+1, int64(i)*1500
		evs[i] = ev
	}
	return evs, r
}

// BenchmarkNew builds alerts of 1000 events (each event's fields looked up
// once before, as matching them does).
func BenchmarkNew(b *testing.B) {
	evs, r := benchEvents(b, 1000)
	for _, ev := range evs {
		New(ev, r)
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, ev := range evs {
			New(ev, r)
		}
	}
}

// BenchmarkWriteJSONL writes 1000 alerts as JSON Lines; encoding/json is
// what WriteJSONL did before appendAlert.
func BenchmarkWriteJSONL(b *testing.B) {
	as := benchAlerts(b, 1000)
	for _, bc := range []struct {
		name  string
		write func([]Alert) error
	}{
		{"appendAlert", func(as []Alert) error { return WriteJSONL(io.Discard, as) }},
		{"encoding/json", func(as []Alert) error { _, err := reflectJSONL(as); return err }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := bc.write(as); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package event

import (
	"testing"
)

// FuzzEvent: any input either fails to parse with an error or yields an
// event whose ECS view and field getters work without panicking.
func FuzzEvent(f *testing.F) {
	for _, s := range []string{
		`{"eventSource":"s3.amazonaws.com","eventName":"PutObject","requestParameters":{"a":[1,{"b":null}],"c":""}}`,
		`{"eventName":"ConsoleLogin","responseElements":{"ConsoleLogin":"Failure"},"additionalEventData":{"MFAUsed":"No"}}`,
		`{"_source":{"event":{"action":"X","provider":"y"},"@timestamp":"2024-01-01T00:00:00Z"}}`,
		`{"eventName":"X","resources":[{"ARN":"a","accountId":"1"},{"ARN":"a","accountId":"1"}],"tlsDetails":{"tlsVersion":"TLSv1.2"}}`,
		`{"eventName":"X","requestParameters":{"n":1e400,"m":-0.0,"big":123456789012345678901234567890}}`,
	} {
		f.Add([]byte(s))
	}
	names := []string{"event.action", "aws.cloudtrail.request_parameters", "aws.cloudtrail.flattened.request_parameters.a.b",
		"user.name", "cloud.account.id", "event.outcome", "related.user", "eventName", "requestParameters.a", ""}
	getters := make([]Getter, len(names))
	for i, n := range names {
		getters[i] = ResolveIndexed(n)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var p Parser
		ev, err := p.Parse(data)
		if err != nil {
			return
		}
		_ = ev.ECS().MarshalTo(nil)
		for _, g := range getters {
			g(ev, nil)
		}
		_ = ev.Time()
		_ = ev.ID()
	})
}

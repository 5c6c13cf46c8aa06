package event

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/trailhound/trailhound/record"
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
		`{"eventSource":"s","eventName":"X","eventTime":"0001-01-01T00:00:00Z"}`,
		`{"eventSource":"s","eventName":"X","eventTime":1700000000,"@timestamp":"2024-01-01T00:00:00+05:00"}`,
		`{"eventSource":"s","eventName":"X","eventVersion":"1","@timestamp":"2262-04-11T23:47:16.854775807Z"}`,
		`{"eventSource":"ec2.amazonaws.com","eventName":"X","sourceIPAddress":"h.example","userIdentity":{"type":"AssumedRole","principalId":"P:s","invokedBy":"","arn":"arn:aws:sts::1:assumed-role/AWSServiceRoleForX/s","sessionContext":{"sessionIssuer":{"arn":"arn:aws:iam::1:role/aws-service-role/x.amazonaws.com/AWSServiceRoleForX","userName":"AWSServiceRoleForX"}}},"requestParameters":{"instanceIds":["i-0123456789",1]},"resources":[{"ARN":"arn:aws:ec2:r:1:instance/i-0123456789a"}]}`,
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
		// Parse refuses what is not UTF-8, and only that, before parsing;
		// ParseUTF8 (for records the scanner validated) parses the rest
		// alike
		if !utf8.Valid(data) {
			if !errors.Is(err, ErrInvalidUTF8) {
				t.Fatalf("not UTF-8, Parse error %v", err)
			}
			return
		}
		var q Parser
		ev2, err2 := q.ParseUTF8(data)
		if (err == nil) != (err2 == nil) || err == nil && (ev.Kind != ev2.Kind || ev.Provider() != ev2.Provider() || ev.Action() != ev2.Action()) {
			t.Fatalf("Parse: %v, ParseUTF8: %v", err, err2)
		}
		if err != nil {
			return
		}
		_ = ev.ECS().MarshalTo(nil)
		for _, g := range getters {
			g(ev, nil)
		}
		// an event time is usable (UTC, within Unix nanoseconds) or absent
		// with a reason; never a time that overflows (year 1754)
		et, terr := ev.EventTime()
		switch {
		case terr != nil && (!et.IsZero() || !ev.Time().IsZero() || terr.Error() == ""):
			t.Errorf("EventTime = %v, %v", et, terr)
		case terr == nil && (et.Location() != time.UTC || !time.Unix(0, et.UnixNano()).Equal(et) || !ev.Time().Equal(et)):
			t.Errorf("EventTime = %v: not a usable time", et)
		}
		_ = ev.ID()
		// the direct user getters agree with the ECS view (service actors
		// have neither), and related.hosts holds no empty host
		if ev.Kind == KindCloudTrail {
			for _, name := range []string{"user.name", "user.id", "service.name"} {
				if g, w := valuesString(Resolve(name)(ev, nil)), valuesString(walk(ev.ECS(), newPath(name), 0, nil)); g != w {
					t.Errorf("%s: getter %q, ECS view %q", name, g, w)
				}
			}
			for _, h := range walk(ev.ECS(), newPath("related.hosts"), 0, nil) {
				if h.S == "" {
					t.Errorf("empty related host")
				}
			}
		}
	})
}

// FuzzServiceActor: the service actor read field by field from the
// userIdentity type as the user getters read it (serviceActorOf) is the one
// read from the parsed userIdentity (awsServiceActor), on any record.
func FuzzServiceActor(f *testing.F) {
	for _, s := range []string{
		`{"eventSource":"s","eventName":"X","userIdentity":{"type":"AWSService","invokedBy":"x.amazonaws.com"}}`,
		`{"eventSource":"s","eventName":"X","userIdentity":{"type":"AWSService"}}`,
		`{"eventSource":"s","eventName":"X","userIdentity":{"type":"AWSService","invokedBy":"-"}}`,
		`{"eventSource":"s","eventName":"X","userIdentity":{"type":"AssumedRole","invokedBy":"y.amazonaws.com","sessionContext":{"sessionIssuer":{"arn":"arn:aws:iam::1:role/aws-service-role/x.amazonaws.com/R"}}}}`,
		`{"eventSource":"s","eventName":"X","userIdentity":{"type":"AssumedRole","sessionContext":{"sessionIssuer":{"arn":"arn:aws:iam::1:role/aws-service-role/x.amazonaws.com/R"}}}}`,
		`{"eventSource":"s","eventName":"X","userIdentity":{"type":"AssumedRole","sessionContext":{"sessionIssuer":{"arn":"arn:aws:iam::1:role/r"}}}}`,
		`{"eventSource":"s","eventName":"X","userIdentity":{"type":"IAMUser","invokedBy":"x.amazonaws.com","userName":"u"}}`,
		`{"eventSource":"s","eventName":"X","userIdentity":{"type":"AWS\u0053ervice","invokedBy":"x\u002eamazonaws.com"}}`,
		`{"eventSource":"s","eventName":"X","userIdentity":{"type":["AWSService"],"invokedBy":1}}`,
		`{"eventSource":"s","eventName":"X","userIdentity":"AWSService"}`,
		`{"eventSource":"s","eventName":"X","userIdentity.type":"AWSService","userIdentity":{"type":"none"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var p Parser
		err := record.ForEach(bytes.NewReader(data), 1<<20, func(rec record.Record) error {
			ev, err := p.ParseRecord(rec) // read member by member
			if err != nil || ev.Kind != KindCloudTrail {
				return nil
			}
			fast := ev.serviceActorOf(ev.strView("userIdentity", "type"))
			if slow := awsServiceActor(ev.root().Get("userIdentity")); fast != slow {
				return fmt.Errorf("serviceActorOf %q, awsServiceActor %q", fast, slow)
			}
			return nil
		}, func(*record.PosError) {})
		if err != nil {
			t.Fatal(err)
		}
	})
}

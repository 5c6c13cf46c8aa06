package event

import (
	"fmt"
	"slices"
	"testing"
)

// Records with the same eventSource and eventName and everything else
// different give every BySourceAndName field the same values.
func TestBySourceAndName(t *testing.T) {
	records := []string{
		`{"eventTime":"2026-11-03T10:00:00Z","eventSource":"%s","eventName":"%s"}`,
		`{"eventTime":"2026-11-03T10:00:00Z","eventSource":"%s","eventName":"%s","eventCategory":"Data","eventType":"AwsServiceEvent",
		  "errorCode":"AccessDenied","userIdentity":{"type":"AWSService","invokedBy":"s3.amazonaws.com"},"readOnly":true,
		  "requestParameters":{"eventName":"x","event":{"category":"y"}},"event":{"action":"z","dataset":"w","kind":"v","category":"u","type":"t"},
		  "data_stream":{"dataset":"other"}}`,
		`{"eventSource":"%s","eventName":"%s","sourceIPAddress":"192.0.2.1","userAgent":"aws-cli/2.0","tlsDetails":{"cipherSuite":"x"},
		  "responseElements":{"ConsoleLogin":"Success"},"additionalEventData":{"MFAUsed":"No"},"eventTime":"not a time"}`,
	}
	pairs := [][2]string{
		{"iam.amazonaws.com", "CreateUser"}, {"s3.amazonaws.com", "GetObject"}, {"signin.amazonaws.com", "ConsoleLogin"},
		{"ec2.amazonaws.com", "-"}, {"none", "none"}, {"sts.amazonaws.com", "AssumeRole"}, {"x", "DescribeInstances"},
	}
	for name := range sourceAndName {
		get := resolve(name)
		for _, pa := range pairs {
			var first []Value
			for i, tmpl := range records {
				var p Parser
				ev, err := p.Parse(fmt.Appendf(nil, tmpl, pa[0], pa[1]))
				if err != nil {
					t.Fatal(err)
				}
				if ev.Kind != KindCloudTrail || ev.Provider() != pa[0] || ev.Action() != pa[1] {
					t.Fatalf("record %d of %v: kind %v, %q %q", i, pa, ev.Kind, ev.Provider(), ev.Action())
				}
				got := get(ev, nil)
				if i == 0 {
					first = got
				} else if !slices.Equal(got, first) {
					t.Errorf("%s on %v: record %d gives %v, record 0 %v", name, pa, i, got, first)
				}
			}
		}
	}
}

// Records with the same userIdentity.type and everything else different
// give every ByIdentityType field the same values.
func TestByIdentityType(t *testing.T) {
	records := []string{
		`{"eventTime":"2026-11-03T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","userIdentity":{"type":"%s"}}`,
		`{"eventTime":"2026-11-03T10:00:00Z","eventSource":"iam.amazonaws.com","eventName":"CreateUser","userIdentity":{"type":"%s","arn":"arn:aws:iam::1:user/a","invokedBy":"x.amazonaws.com","userName":"a"},
		  "aws":{"cloudtrail":{"user_identity":{"type":"other"}}},"requestParameters":{"userIdentity":{"type":"y"}}}`,
		`{"eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","userIdentity":{"principalId":"p","type":"%s","accountId":"1"},"errorCode":"x"}`,
	}
	view := ResolveView("userIdentity.type")
	for _, typ := range []string{"IAMUser", "AssumedRole", "Root", "AWSService", "-", "none", "Unknown"} {
		for name := range identityType {
			get := resolve(name)
			var first []Value
			for i, tmpl := range records {
				var p Parser
				ev, err := p.Parse(fmt.Appendf(nil, tmpl, typ))
				if err != nil {
					t.Fatal(err)
				}
				if vs := view(ev); ev.Kind != KindCloudTrail || len(vs) != 1 || vs[0].T != String || vs[0].S != typ {
					t.Fatalf("record %d: kind %v, userIdentity.type %v", i, ev.Kind, vs)
				}
				got := get(ev, nil)
				if i == 0 {
					first = got
				} else if !slices.Equal(got, first) {
					t.Errorf("%s with type %q: record %d gives %v, record 0 %v", name, typ, i, got, first)
				}
			}
		}
	}
}

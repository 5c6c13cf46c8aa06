package notify

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

const key = "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/03/111122223333_CloudTrail_us-east-1_20261103T1335Z_a1b2.json.gz"

func s3Event(name, key string, size string) string {
	return `{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2026-11-03T13:36:02.123Z",
	"eventName":"` + name + `","s3":{"s3SchemaVersion":"1.0","bucket":{"name":"trail-bucket","arn":"arn:aws:s3:::trail-bucket"},
	"object":{"key":"` + key + `","size":` + size + `,"eTag":"0123abcd","sequencer":"0055AED6DCD90281E5"}}}]}`
}

// snsWrap wraps a message in an SNS notification envelope.
func snsWrap(msg string) string {
	b, _ := json.Marshal(map[string]string{"Type": "Notification", "MessageId": "m-1", "TopicArn": "arn:aws:sns:us-east-1:111122223333:trail",
		"Subject": "Amazon S3 Notification", "Message": msg, "Timestamp": "2026-11-03T13:36:03.000Z"})
	return string(b)
}

const eventBridge = `{"version":"0","id":"17793124-05d4-b198-2fde-7ededc63b103","detail-type":"Object Created","source":"aws.s3",
"account":"111122223333","time":"2026-11-03T13:36:02Z","region":"us-east-1","resources":["arn:aws:s3:::trail-bucket"],
"detail":{"version":"0","bucket":{"name":"trail-bucket"},"object":{"key":"` + key + `","size":2048,"etag":"0123abcd","sequencer":"617f08299329d189"},
"request-id":"N4N7GDK58NMKJ12R","requester":"cloudtrail.amazonaws.com","reason":"PutObject"}}`

const cloudTrailMsg = `{"s3Bucket":"trail-bucket","s3ObjectKey":["` + key + `","AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/03/111122223333_CloudTrail_us-east-1_20261103T1340Z_c3d4.json.gz"]}`

func TestParse(t *testing.T) {
	at := time.Date(2026, 11, 3, 13, 36, 2, 123e6, time.UTC)
	one := []Object{{Bucket: "trail-bucket", Key: key, ETag: "0123abcd", Size: 2048, Time: at}}
	ebObj := []Object{{Bucket: "trail-bucket", Key: key, ETag: "0123abcd", Size: 2048, Time: at.Truncate(time.Second)}}
	ctObjs := []Object{{Bucket: "trail-bucket", Key: key, Size: -1},
		{Bucket: "trail-bucket", Key: "AWSLogs/111122223333/CloudTrail/us-east-1/2026/11/03/111122223333_CloudTrail_us-east-1_20261103T1340Z_c3d4.json.gz", Size: -1}}
	tests := []struct {
		name    string
		body    string
		kind    string
		objects []Object
		ignored string // a substring of the first Ignored entry
	}{
		{"s3 direct", s3Event("ObjectCreated:Put", key, "2048"), KindS3, one, ""},
		{"s3 size as string", s3Event("ObjectCreated:CompleteMultipartUpload", key, `"2048"`), KindS3, one, ""},
		{"s3 in sns", snsWrap(s3Event("ObjectCreated:Put", key, "2048")), KindS3, one, ""},
		{"s3 in sns in sns", snsWrap(snsWrap(s3Event("ObjectCreated:Put", key, "2048"))), KindS3, one, ""},
		{"s3 key url-encoded", s3Event("ObjectCreated:Put", "logs+2026/a%2Bb%3Dc.json.gz", "5"), KindS3,
			[]Object{{Bucket: "trail-bucket", Key: "logs 2026/a+b=c.json.gz", ETag: "0123abcd", Size: 5, Time: at}}, ""},
		{"s3 removal ignored", s3Event("ObjectRemoved:Delete", key, "0"), KindS3, nil, "ObjectRemoved:Delete"},
		{"s3 test event", `{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-03T13:00:00.000Z","Bucket":"trail-bucket","RequestId":"R","HostId":"H"}`,
			KindS3Test, nil, "s3:TestEvent"},
		{"s3 test event in sns", snsWrap(`{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"trail-bucket"}`), KindS3Test, nil, "trail-bucket"},
		{"eventbridge", eventBridge, KindEventBridge, ebObj, ""},
		{"eventbridge deleted", strings.Replace(eventBridge, "Object Created", "Object Deleted", 1), KindEventBridge, nil, "Object Deleted"},
		{"cloudtrail sns", snsWrap(cloudTrailMsg), KindCloudTrail, ctObjs, ""},
		{"cloudtrail raw", cloudTrailMsg, KindCloudTrail, ctObjs, ""},
		{"sns subscription confirmation", `{"Type":"SubscriptionConfirmation","Message":"You have chosen to subscribe","Token":"t"}`, KindSNS, nil, "SubscriptionConfirmation"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if m.Kind != tc.kind {
				t.Errorf("kind %q, want %q", m.Kind, tc.kind)
			}
			if !reflect.DeepEqual(m.Objects, tc.objects) {
				t.Errorf("objects\n %+v\nwant\n %+v", m.Objects, tc.objects)
			}
			if tc.ignored == "" && len(m.Ignored) > 0 || tc.ignored != "" && (len(m.Ignored) == 0 || !strings.Contains(m.Ignored[0], tc.ignored)) {
				t.Errorf("ignored %q, want one with %q", m.Ignored, tc.ignored)
			}
		})
	}
}

func TestParsePoison(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"not json", `hello`, "not a JSON object"},
		{"json array", `[1,2]`, "not a JSON object"},
		{"unknown object", `{"foo":1,"bar":2}`, "top-level keys: bar, foo"},
		{"empty object", `{}`, "top-level keys: none"},
		{"cloudtrail delivery file", `{"Records":[{"eventVersion":"1.08","eventSource":"iam.amazonaws.com","eventName":"CreateUser"}]}`, `eventSource "iam.amazonaws.com"`},
		{"no records", `{"Records":[]}`, "no Records"},
		{"records not a list", `{"Records":{}}`, "Records"},
		{"s3 no key", s3Event("ObjectCreated:Put", "", "1"), "no bucket name or object key"},
		{"s3 bad escape", s3Event("ObjectCreated:Put", "a%zz", "1"), `key "a%zz"`},
		{"s3 bad size", s3Event("ObjectCreated:Put", key, `"big"`), "size"},
		{"s3 negative size", s3Event("ObjectCreated:Put", key, `-4`), "size"},
		{"sns message not json", snsWrap("plain text"), "SNS notification's Message: not a JSON object"},
		{"sns message not string", `{"Type":"Notification","Message":{"a":1}}`, "Message is not a string"},
		{"sns too deep", snsWrap(snsWrap(snsWrap(snsWrap(cloudTrailMsg)))), "nested more than 3 deep"},
		{"other s3 service event", `{"Service":"Amazon S3","Event":"s3:Other"}`, "want s3:TestEvent"},
		{"eventbridge other source", `{"source":"aws.ec2","detail":{}}`, `"aws.ec2"`},
		{"eventbridge no key", `{"source":"aws.s3","detail-type":"Object Created","detail":{"bucket":{"name":"b"}}}`, "no detail.bucket.name or detail.object.key"},
		{"cloudtrail keys not list", `{"s3Bucket":"b","s3ObjectKey":"k"}`, "s3ObjectKey is not a list"},
		{"cloudtrail no bucket", `{"s3ObjectKey":["k"]}`, "s3Bucket is not a bucket name"},
		{"cloudtrail empty key", `{"s3Bucket":"b","s3ObjectKey":["k",""]}`, "s3ObjectKey 1 is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse([]byte(tc.body))
			if err == nil {
				t.Fatalf("no error; got %+v", m)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to say %q", err, tc.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{s3Event("ObjectCreated:Put", key, "1"), snsWrap(cloudTrailMsg), eventBridge, `{"Type":"Notification","Message":"{}"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err == nil {
			for _, o := range m.Objects {
				if o.Bucket == "" || o.Key == "" {
					t.Fatalf("object without bucket or key: %+v", o)
				}
			}
		}
	})
}

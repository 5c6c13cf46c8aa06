package event

import "testing"

// benchRecord is a CloudTrail record of the usual shape (an assumed role
// calling an API), written for the benchmarks.
const benchRecord = `{"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLEID:worker-7",` +
	`"arn":"arn:aws:sts::111122223333:assumed-role/deploy-role/worker-7","accountId":"111122223333","accessKeyId":"ASIAEXAMPLEKEY",` +
	`"sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROAEXAMPLEID","arn":"arn:aws:iam::111122223333:role/deploy-role",` +
	`"accountId":"111122223333","userName":"deploy-role"},"attributes":{"creationDate":"2026-01-02T03:04:05Z","mfaAuthenticated":"false"}}},` +
	`"eventTime":"2026-01-02T03:14:15Z","eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","awsRegion":"eu-west-1",` +
	`"sourceIPAddress":"198.51.100.7","userAgent":"aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64.amzn.2 prompt/off command/ec2.describe-instances",` +
	`"requestParameters":{"instancesSet":{},"filterSet":{"items":[{"name":"tag:team","valueSet":{"items":[{"value":"platform"}]}}]}},` +
	`"responseElements":null,"requestID":"0f6e8d4c-1b2a-4c3d-9e8f-7a6b5c4d3e2f","eventID":"5b4a3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d",` +
	`"readOnly":true,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management",` +
	`"tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"ec2.eu-west-1.amazonaws.com"}}`

// benchFields are fields many corpus rules read.
var benchFields = []string{"event.provider", "event.action", "event.outcome", "source.address", "user_agent.original",
	"aws.cloudtrail.user_identity.type", "aws.cloudtrail.user_identity.arn", "aws.cloudtrail.user_identity.session_context.session_issuer.arn",
	"user.name", "cloud.account.id", "userIdentity.type", "userIdentity.sessionContext.sessionIssuer.userName", "requestParameters.filterSet"}

// BenchmarkParse parses the record alone.
func BenchmarkParse(b *testing.B) {
	data := []byte(benchRecord)
	var p Parser
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.ParseUTF8(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseRead parses the record and reads benchFields through
// their views, as the engine does.
func BenchmarkParseRead(b *testing.B) { benchParseRead(b, benchFields) }

// benchRawFields are raw CloudTrail fields Sigma and Panther rules read,
// present in benchRecord or not (most rules' fields are absent from most
// records).
var benchRawFields = []string{"eventSource", "eventName", "errorCode", "errorMessage", "userIdentity.type", "userIdentity.arn",
	"userIdentity.sessionContext.sessionIssuer.type", "userIdentity.invokedBy", "requestParameters.userName", "requestParameters.policyArn",
	"requestParameters.bucketName", "requestParameters.attribute", "requestParameters.ipPermissions.items.ipRanges.items.cidrIp",
	"responseElements.ConsoleLogin", "additionalEventData.MFAUsed", "userAgent", "sourceIPAddress", "awsRegion", "recipientAccountId",
	"serviceEventDetails.state", "readOnly", "eventType", "resources.ARN", "tlsDetails.tlsVersion"}

// BenchmarkParseReadRaw parses the record and reads benchRawFields
// through their views: each field's first read of an event.
func BenchmarkParseReadRaw(b *testing.B) { benchParseRead(b, benchRawFields) }

// benchParseRead parses benchRecord and reads fields through their views,
// each field's first read of an event.
func benchParseRead(b *testing.B, fields []string) {
	data := []byte(benchRecord)
	views := make([]View, len(fields))
	for i, n := range fields {
		views[i] = ResolveView(n)
	}
	var p Parser
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		ev, err := p.ParseUTF8(data)
		if err != nil {
			b.Fatal(err)
		}
		for _, v := range views {
			v(ev)
		}
	}
}

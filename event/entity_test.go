package event

import (
	"testing"
)

// The actor/target mapping on records we wrote, one per kind of rule in the
// pipeline's script.
func TestEntityMapping(t *testing.T) {
	const user = `"userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE1","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAEXAMPLEKEY000001","userName":"alice"}`
	const role = `"userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLE:bob@example.com","arn":"arn:aws:sts::111122223333:assumed-role/Admin/bob@example.com","accountId":"111122223333","accessKeyId":"ASIAEXAMPLE","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROAEXAMPLE","arn":"arn:aws:iam::111122223333:role/Admin","accountId":"111122223333","userName":"Admin"}}}`
	rec := func(source, name, identity, rest string) string {
		return `{"eventVersion":"1.09","eventTime":"2025-02-01T08:00:00Z","eventSource":"` + source + `","eventName":"` + name +
			`","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","recipientAccountId":"111122223333",` + identity + rest + `}`
	}
	for _, tc := range []struct {
		name   string
		record string
		want   map[string]string // field -> sorted values joined by |
	}{
		{"UpdateAssumeRolePolicy targets the role by name",
			rec("iam.amazonaws.com", "UpdateAssumeRolePolicy", user, `,"requestParameters":{"roleName":"backdoor-role","policyDocument":"{}"}`),
			map[string]string{
				"entity.target.id": "backdoor-role", "target.entity.id": "backdoor-role",
				"actor.entity.id": "arn:aws:iam::111122223333:user/alice", "user.entity.id": "arn:aws:iam::111122223333:user/alice",
				"related.entity":        "AKIAEXAMPLEKEY000001|alice|arn:aws:iam::111122223333:user/alice|backdoor-role",
				"user.target.entity.id": "", "host.entity.id": "", "entity.id": "",
			}},
		{"AttachUserPolicy: a policy ARN (a service resource) and a user name",
			rec("iam.amazonaws.com", "AttachUserPolicy", user, `,"requestParameters":{"userName":"carol","policyArn":"arn:aws:iam::aws:policy/AdministratorAccess"}`),
			map[string]string{
				"service.target.entity.id": "arn:aws:iam::aws:policy/AdministratorAccess", "entity.target.id": "carol",
				"target.entity.id": "arn:aws:iam::aws:policy/AdministratorAccess|carol",
			}},
		{"CreateAccessKey: the new key is a user target",
			rec("iam.amazonaws.com", "CreateAccessKey", user, `,"requestParameters":{"userName":"carol"},"responseElements":{"accessKey":{"accessKeyId":"AKIAEXAMPLEKEY000002","userName":"carol","status":"Active"}}`),
			map[string]string{"user.target.entity.id": "AKIAEXAMPLEKEY000002", "entity.target.id": "carol"}},
		{"AssumeRole by an assumed role: the actor is the issuer",
			rec("sts.amazonaws.com", "AssumeRole", role, `,"requestParameters":{"roleArn":"arn:aws:iam::111122223333:role/Deploy","roleSessionName":"deploy-1"}`),
			map[string]string{
				"actor.entity.id": "arn:aws:iam::111122223333:role/Admin", "user.entity.id": "arn:aws:iam::111122223333:role/Admin",
				"user.target.entity.id": "arn:aws:iam::111122223333:role/Deploy",
				"related.entity": "ASIAEXAMPLE|Admin|arn:aws:iam::111122223333:role/Admin|arn:aws:iam::111122223333:role/Deploy|" +
					"arn:aws:sts::111122223333:assumed-role/Admin/bob@example.com|deploy-1",
				"related.user": "AROAEXAMPLE:bob@example.com|Admin|bob|bob@example.com", "user.email": "bob@example.com",
			}},
		{"AssumeRole by a service: the actor is the service, a service entity",
			rec("sts.amazonaws.com", "AssumeRole", `"userIdentity":{"type":"AWSService","invokedBy":"ec2.amazonaws.com"}`, `,"requestParameters":{"roleArn":"arn:aws:iam::111122223333:role/aws-service-role/x/AWSServiceRoleForX"}`),
			map[string]string{
				"actor.entity.id": "ec2.amazonaws.com", "service.entity.id": "ec2.amazonaws.com", "user.entity.id": "",
				"service.target.entity.id": "arn:aws:iam::111122223333:role/aws-service-role/x/AWSServiceRoleForX",
			}},
		{"SendCommand to every instance targets the account",
			rec("ssm.amazonaws.com", "SendCommand", user, `,"requestParameters":{"instanceIds":["*"],"documentName":"AWS-RunShellScript"}`),
			map[string]string{"entity.target.id": "111122223333"}},
		{"SendCommand by tag targets",
			rec("ssm.amazonaws.com", "SendCommand", user, `,"requestParameters":{"targets":[{"key":"InstanceIds","values":["i-0aaa","i-0bbb"]}]}`),
			map[string]string{"host.target.entity.id": "i-0aaa|i-0bbb"}},
		{"AuthorizeSecurityGroupIngress: group and rule are service targets",
			rec("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", user, `,"requestParameters":{"groupId":"sg-0123"},"responseElements":{"securityGroupRuleSet":{"items":[{"groupId":"sg-0123","securityGroupRuleId":"sgr-0456"}]}}`),
			map[string]string{"service.target.entity.id": "sg-0123|sgr-0456", "entity.target.id": ""}},
		{"DeleteNetworkAclEntry: the rule number as text",
			rec("ec2.amazonaws.com", "DeleteNetworkAclEntry", user, `,"requestParameters":{"networkAclId":"acl-0123","ruleNumber":100,"egress":false}`),
			map[string]string{"service.target.entity.id": "acl-0123", "entity.target.id": "100"}},
		{"S3 object reads target the resources (S3 ARNs are service resources)",
			rec("s3.amazonaws.com", "GetObject", user, `,"requestParameters":{"bucketName":"logs","key":"a.txt"},"resources":[{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::logs/a.txt"},{"accountId":"111122223333","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::logs"}]`),
			map[string]string{"service.target.entity.id": "arn:aws:s3:::logs|arn:aws:s3:::logs/a.txt"}},
		{"Lambda versioned event name",
			rec("lambda.amazonaws.com", "AddPermission20150331v2", user, `,"requestParameters":{"functionName":"fn","statementId":"s"}`),
			map[string]string{"entity.target.id": "fn"}},
		{"GetSecretValue by ARN",
			rec("secretsmanager.amazonaws.com", "GetSecretValue", user, `,"requestParameters":{"secretId":"arn:aws:secretsmanager:us-east-1:111122223333:secret:db-AbCdEf"}`),
			map[string]string{"service.target.entity.id": "arn:aws:secretsmanager:us-east-1:111122223333:secret:db-AbCdEf"}},
		{"an EC2 instance role acting: user by type",
			rec("ec2.amazonaws.com", "DescribeInstances", `"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/web/i-0abc"}`, ``),
			map[string]string{"user.entity.id": "arn:aws:sts::111122223333:assumed-role/web/i-0abc", "target.entity.id": "", "related.user": "i-0abc"}},
		{"no identity: no actor",
			rec("s3.amazonaws.com", "ListBuckets", `"userIdentity":{"type":"AWSAccount"}`, ``),
			map[string]string{"actor.entity.id": "", "entity.target.id": "111122223333", "related.entity": "111122223333"}},
		{"an unknown identity type with a plain id falls back to entity.id",
			rec("s3.amazonaws.com", "ListBuckets", `"userIdentity":{"type":"IdentityCenterUser","onBehalfOf":{"userId":"u-123","identityStoreArn":"arn:aws:identitystore::111122223333:identitystore/d-1"}}`, ``),
			map[string]string{"actor.entity.id": "u-123", "entity.id": "u-123", "user.id": "u-123",
				"related.entity": "111122223333|arn:aws:identitystore::111122223333:identitystore/d-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkFields(t, Parser{}, tc.record, tc.want)
			// the option turns the mapping off
			off := Parser{NoEntityMapping: true}
			ev, _ := off.Parse([]byte(tc.record))
			for field := range entityFields {
				if got := Resolve(field)(ev, nil); len(got) > 0 {
					t.Errorf("mapping off: %s = %v", field, got)
				}
			}
		})
	}
}

func TestNewestPipelineFields(t *testing.T) {
	rec := func(rest string) string {
		return `{"eventVersion":"1.09","eventTime":"2025-02-01T08:00:00Z","eventSource":"sso.amazonaws.com","awsRegion":"us-east-1","eventID":"e1",` + rest + `}`
	}
	for _, tc := range []struct {
		name   string
		record string
		want   map[string]string
	}{
		{"management_event stays a string", rec(`"eventName":"X","managementEvent":true,"readOnly":false`),
			map[string]string{"aws.cloudtrail.management_event": "true", "aws.cloudtrail.read_only": "false"}},
		{"TLS version without a protocol prefix", rec(`"eventName":"X","tlsDetails":{"tlsVersion":"1.3","cipherSuite":"TLS_AES_128_GCM_SHA256"}`),
			map[string]string{"tls.version": "1.3", "tls.version_protocol": "", "tls.cipher": "TLS_AES_128_GCM_SHA256"}},
		{"TLS version with its prefix", rec(`"eventName":"X","tlsDetails":{"tlsVersion":"TLSv1.2"}`),
			map[string]string{"tls.version": "1.2", "tls.version_protocol": "tls"}},
		{"placeholder TLS details are dropped", rec(`"eventName":"X","tlsDetails":{"tlsVersion":"tlsVersion","cipherSuite":"c","clientProvidedHostHeader":"h"}`),
			map[string]string{"tls.version": "", "tls.cipher": "", "tls.client.server_name": ""}},
		{"UserAuthentication names the user from additionalEventData",
			rec(`"eventName":"UserAuthentication","userIdentity":{"type":"Unknown"},"additionalEventData":{"UserName":"dave@example.com"}`),
			map[string]string{"user.name": "dave@example.com", "user.email": "dave@example.com", "related.user": "dave@example.com",
				"aws.cloudtrail.additional_eventdata": "", "aws.cloudtrail.flattened.additional_eventdata.UserName": ""}},
		{"the moved UserName leaves the rest of additionalEventData in its HashMap order",
			rec(`"eventName":"UserAuthentication","userIdentity":{"type":"Unknown"},"additionalEventData":{"UserName":"dave","CredentialType":"PASSWORD","LoginTo":"https://example.awsapps.com/start","MFAUsed":"No","Empty":""}`),
			map[string]string{"user.name": "dave", "aws.cloudtrail.flattened.additional_eventdata.UserName": "",
				"aws.cloudtrail.flattened.additional_eventdata.MFAUsed": "No",
				"aws.cloudtrail.additional_eventdata":                   "{LoginTo=https://example.awsapps.com/start, CredentialType=PASSWORD, MFAUsed=No}"}},
		{"a user already named keeps UserName in additionalEventData",
			rec(`"eventName":"UserAuthentication","userIdentity":{"type":"IAMUser","userName":"erin"},"additionalEventData":{"UserName":"dave"}`),
			map[string]string{"user.name": "erin", "aws.cloudtrail.additional_eventdata": "{UserName=dave}",
				"aws.cloudtrail.flattened.additional_eventdata.UserName": "dave"}},
		{"other events do not", rec(`"eventName":"Other","additionalEventData":{"UserName":"dave"}`),
			map[string]string{"user.name": ""}},
		{"a name starting with @ is no e-mail", rec(`"eventName":"X","userIdentity":{"type":"IAMUser","userName":"@ops"}`),
			map[string]string{"user.email": "", "related.user": "@ops"}},
		{"categorisation: CreateControlChannel", rec(`"eventName":"CreateControlChannel"`),
			map[string]string{"event.category": "session", "event.type": "start"}},
		{"categorisation: TerminateSession", rec(`"eventName":"TerminateSession"`),
			map[string]string{"event.category": "session", "event.type": "end"}},
		{"categorisation: Publish is an api call", rec(`"eventName":"Publish"`),
			map[string]string{"event.category": "api", "event.type": "info"}},
		{"placeholders - and none are dropped like empty values",
			rec(`"eventName":"X","userAgent":"-","userIdentity":{"type":"IAMUser","userName":"none","arn":"-"},"requestParameters":{"a":"-","b":"x","c":{"d":"none"}},"errorCode":"none"`),
			map[string]string{"user_agent.original": "", "user_agent.name": "", "user.name": "", "related.user": "",
				"aws.cloudtrail.request_parameters": "{b=x}", "aws.cloudtrail.flattened.request_parameters.b": "x",
				"aws.cloudtrail.flattened.request_parameters.a": "", "event.outcome": "success", "actor.entity.id": ""}},
		{"related.user: request names and the new user id", rec(`"eventName":"CreateUser","userIdentity":{"type":"IAMUser","principalId":"AIDA1","userName":"root-ish"},"requestParameters":{"userName":"eve"},"responseElements":{"user":{"userId":"AIDA2","userName":"eve"}}`),
			map[string]string{"related.user": "AIDA1|AIDA2|eve|root-ish", "user.target.id": "AIDA2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkFields(t, Parser{}, tc.record, tc.want)
		})
	}
}

// CloudTrail Insights records (eventSource and eventName only inside
// insightDetails) are records, mapped as the pipeline maps any record.
func TestInsightRecord(t *testing.T) {
	rec := `{"eventVersion":"1.08","eventTime":"2025-03-01T10:00:00Z","awsRegion":"us-east-1","eventID":"ins-1","eventType":"AwsCloudTrailInsight","recipientAccountId":"111122223333","sharedEventID":"s-1","insightDetails":{"state":"Start","eventSource":"ec2.amazonaws.com","eventName":"RunInstances","insightType":"ApiCallRateInsight","insightContext":{"statistics":{"baseline":{"average":0.01},"insight":{"average":1.5}}}},"eventCategory":"Insight"}`
	var p Parser
	ev, err := p.Parse([]byte(rec))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Kind != KindCloudTrail {
		t.Fatalf("kind %v, want a CloudTrail record", ev.Kind)
	}
	for field, want := range map[string]string{
		"aws.cloudtrail.event_type":                            "AwsCloudTrailInsight",
		"aws.cloudtrail.event_category":                        "Insight",
		"aws.cloudtrail.flattened.insight_details.insightType": "ApiCallRateInsight",
		"aws.cloudtrail.flattened.insight_details.eventName":   "RunInstances",
		"aws.cloudtrail.flattened.insight_details.state":       "Start",
		"event.id":         "ins-1",
		"cloud.account.id": "111122223333",
		"event.kind":       "event",
		"event.outcome":    "success",
		"@timestamp":       "2025-03-01T10:00:00.000Z",
		"event.action":     "",
		"aws.cloudtrail.flattened.insight_details.insightContext.statistics.insight.average": "1.5",
	} {
		if got := valuesString(Resolve(field)(ev, nil)); got != want {
			t.Errorf("%s = %q, want %q", field, got, want)
		}
	}
}

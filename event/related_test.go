package event

import (
	"strings"
	"testing"
)

// The fields of Elastic's current pipeline beyond renames (related.ip,
// related.hosts, host.target.id, service.name, the session name, the new
// userIdentity renames, the categorisation fixes), on records written for
// each case. Every field is checked through its getter and in the ECS view.
func TestCurrentPipelineFields(t *testing.T) {
	rec := func(rest string) string {
		return `{"eventVersion":"1.10","eventTime":"2025-06-01T12:00:00Z","awsRegion":"eu-west-1","eventID":"r1",` + rest + `}`
	}
	const ec2Role = `"userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLE:i-0abc1234def567890",` +
		`"arn":"arn:aws:sts::111122223333:assumed-role/app-role/i-0abc1234def567890","accountId":"111122223333",` +
		`"sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROAEXAMPLE","arn":"arn:aws:iam::111122223333:role/app-role","accountId":"111122223333","userName":"app-role"},` +
		`"attributes":{"creationDate":"2025-06-01T11:00:00Z","mfaAuthenticated":"false"},"ec2RoleDelivery":"%s"}}`
	for _, tc := range []struct {
		name   string
		record string
		want   map[string]string // field -> sorted values joined by |; "" absent
	}{
		// related.ip
		{"an IPv4 source is a related ip", rec(`"eventSource":"s3.amazonaws.com","eventName":"ListBuckets","sourceIPAddress":"198.51.100.20"`),
			map[string]string{"source.ip": "198.51.100.20", "related.ip": "198.51.100.20", "related.hosts": ""}},
		{"an IPv6 source too", rec(`"eventSource":"s3.amazonaws.com","eventName":"ListBuckets","sourceIPAddress":"2001:db8::7"`),
			map[string]string{"related.ip": "2001:db8::7"}},
		{"a service endpoint is neither an ip nor a host", rec(`"eventSource":"sts.amazonaws.com","eventName":"AssumeRole","sourceIPAddress":"lambda.amazonaws.com"`),
			map[string]string{"source.address": "lambda.amazonaws.com", "source.ip": "", "related.ip": "", "related.hosts": ""}},
		{"AWS Internal is no host", rec(`"eventSource":"kms.amazonaws.com","eventName":"Decrypt","sourceIPAddress":"AWS Internal"`),
			map[string]string{"related.ip": "", "related.hosts": ""}},
		{"a host name source is a related host", rec(`"eventSource":"s3.amazonaws.com","eventName":"GetObject","sourceIPAddress":"build.example.org"`),
			map[string]string{"related.ip": "", "related.hosts": "build.example.org"}},
		{"the service event's source address is a related ip",
			rec(`"eventSource":"signin.amazonaws.com","eventName":"X","sourceIPAddress":"198.51.100.20","serviceEventDetails":{"sourceIpAddress":"203.0.113.44"}`),
			map[string]string{"related.ip": "198.51.100.20|203.0.113.44"}},
		{"unless it is not an address",
			rec(`"eventSource":"signin.amazonaws.com","eventName":"X","serviceEventDetails":{"sourceIpAddress":"AWS Internal"}`),
			map[string]string{"related.ip": ""}},
		// related.hosts
		{"a TLS host header outside amazonaws.com is a related host",
			rec(`"eventSource":"execute-api.amazonaws.com","eventName":"X","sourceIPAddress":"198.51.100.20","tlsDetails":{"tlsVersion":"TLSv1.3","clientProvidedHostHeader":"api.example.com"}`),
			map[string]string{"related.hosts": "api.example.com"}},
		{"an amazonaws.com host header is not",
			rec(`"eventSource":"s3.amazonaws.com","eventName":"X","tlsDetails":{"tlsVersion":"TLSv1.3","clientProvidedHostHeader":"s3.eu-west-1.amazonaws.com"}`),
			map[string]string{"related.hosts": "", "tls.client.server_name": "s3.eu-west-1.amazonaws.com"}},
		{"the request's computerName",
			rec(`"eventSource":"ds.amazonaws.com","eventName":"X","requestParameters":{"computerName":"WIN-BUILD01"}`),
			map[string]string{"related.hosts": "WIN-BUILD01"}},
		{"instance ids wherever the record names them",
			rec(`"eventSource":"ec2.amazonaws.com","eventName":"StopInstances","requestParameters":{"instancesSet":{"items":[{"instanceId":"i-0aaaaaaaaaaaaaaa1"},{"instanceId":"i-0aaaaaaaaaaaaaaa2"}]},"force":false},` +
				`"responseElements":{"instancesSet":{"items":[{"instanceId":"i-0aaaaaaaaaaaaaaa1"},{"instanceId":"i-0aaaaaaaaaaaaaaa3"}]}},` +
				`"resources":[{"ARN":"arn:aws:ec2:eu-west-1:111122223333:instance/i-0aaaaaaaaaaaaaaa4","accountId":"111122223333","type":"AWS::EC2::Instance"}]`),
			map[string]string{"related.hosts": "i-0aaaaaaaaaaaaaaa1|i-0aaaaaaaaaaaaaaa2|i-0aaaaaaaaaaaaaaa3|i-0aaaaaaaaaaaaaaa4"}},
		{"instanceId, target, resourceId and instanceIds",
			rec(`"eventSource":"ssm.amazonaws.com","eventName":"X","requestParameters":{"instanceId":"i-0bbbbbbbbbbbbbbb1","target":"i-0bbbbbbbbbbbbbbb2","resourceId":"i-0bbbbbbbbbbbbbbb3","instanceIds":["i-0bbbbbbbbbbbbbbb4","mi-0123456789abcdef0"]}`),
			map[string]string{"related.hosts": "i-0bbbbbbbbbbbbbbb1|i-0bbbbbbbbbbbbbbb2|i-0bbbbbbbbbbbbbbb3|i-0bbbbbbbbbbbbbbb4"}},
		{"too short to be an instance id", rec(`"eventSource":"ec2.amazonaws.com","eventName":"X","requestParameters":{"instanceId":"i-1234"}`),
			map[string]string{"related.hosts": ""}},
		// host.target.id
		{"host.target.id from an instance ARN target", rec(`"eventSource":"ssm.amazonaws.com","eventName":"OpenControlChannel",` + fmtRole(ec2Role, "2.0") + `,` +
			`"resources":[{"ARN":"arn:aws:ec2:eu-west-1:111122223333:instance/i-0abc1234def567890","accountId":"111122223333","type":"AWS::EC2::Instance"}]`),
			map[string]string{"host.target.entity.id": "arn:aws:ec2:eu-west-1:111122223333:instance/i-0abc1234def567890",
				"host.target.id": "i-0abc1234def567890", "related.hosts": "i-0abc1234def567890", "host.id": ""}},
		{"host.target.id from SendCommand's instance ids", rec(`"eventSource":"ssm.amazonaws.com","eventName":"SendCommand","requestParameters":{"instanceIds":["i-0ccccccccccccccc1","i-0ccccccccccccccc2"],"documentName":"AWS-RunShellScript"}`),
			map[string]string{"host.target.id": "i-0ccccccccccccccc1|i-0ccccccccccccccc2", "host.id": "",
				"event.category": "process", "event.type": "start"}},
		{"a snapshot is no host", rec(`"eventSource":"ec2.amazonaws.com","eventName":"ModifySnapshotAttribute","requestParameters":{"snapshotId":"snap-0123456789abcdef0"}`),
			map[string]string{"host.target.id": "", "host.target.entity.id": "", "entity.target.id": "snap-0123456789abcdef0"}},
		// the session context
		{"IMDSv2 credentials", rec(`"eventSource":"s3.amazonaws.com","eventName":"ListBuckets",` + fmtRole(ec2Role, "2.0")),
			map[string]string{"aws.cloudtrail.user_identity.session_context.ec2_role_delivery": "2.0",
				"user.name": "app-role", "user.id": "AROAEXAMPLE:i-0abc1234def567890",
				"related.user":    "AROAEXAMPLE:i-0abc1234def567890|app-role|i-0abc1234def567890",
				"user.entity.id":  "arn:aws:iam::111122223333:role/app-role",
				"actor.entity.id": "arn:aws:sts::111122223333:assumed-role/app-role/i-0abc1234def567890",
				"service.name":    "", "user.email": ""}},
		{"IMDSv1 credentials", rec(`"eventSource":"s3.amazonaws.com","eventName":"ListBuckets",` + fmtRole(ec2Role, "1.0")),
			map[string]string{"aws.cloudtrail.user_identity.session_context.ec2_role_delivery": "1.0"}},
		{"source identity, web identity and sign-in session",
			rec(`"eventSource":"s3.amazonaws.com","eventName":"X","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/web/app","credentialId":"cred-1","identityProvider":"accounts.google.com",` +
				`"invokedByDelegate":{"accountId":"444455556666"},"inScopeOf":{"issuerType":"AWS::Lambda::Function","credentialsIssuedTo":"arn:aws:lambda:eu-west-1:111122223333:function:f","sourceArn":"arn:aws:lambda:eu-west-1:111122223333:function:f","sourceAccount":"111122223333"},` +
				`"sessionContext":{"sourceIdentity":"alice","assumedRoot":"true","signInSessionArn":"arn:aws:signin::111122223333:session/s1","webIdFederationData":{"federatedProvider":"accounts.google.com","attributes":{"accounts.google.com:aud":"app-1"}}}},` +
				`"sharedEventID":"se-1","vpcEndpointAccountId":"777788889999","addendum":{"reason":"DELIVERY_DELAY","updatedFields":"x","originalRequestID":"q0","originalEventID":"e0"},"tlsDetails":{"tlsVersion":"TLSv1.3","keyExchange":"x25519"}`),
			map[string]string{
				"aws.cloudtrail.user_identity.session_context.source_identity":                           "alice",
				"aws.cloudtrail.user_identity.session_context.assumed_root":                              "true",
				"aws.cloudtrail.user_identity.session_context.sign_in_session_arn":                       "arn:aws:signin::111122223333:session/s1",
				"aws.cloudtrail.user_identity.session_context.web_id_federation_data.federated_provider": "accounts.google.com",
				"aws.cloudtrail.user_identity.session_context.web_id_federation_data.attributes":         `{"accounts.google.com:aud":"app-1"}`,
				"aws.cloudtrail.user_identity.credential_id":                                             "cred-1",
				"aws.cloudtrail.user_identity.identity_provider":                                         "accounts.google.com",
				"aws.cloudtrail.user_identity.invoked_by_delegate.account_id":                            "444455556666",
				"aws.cloudtrail.user_identity.in_scope_of.issuer_type":                                   "AWS::Lambda::Function",
				"aws.cloudtrail.user_identity.in_scope_of.source_account":                                "111122223333",
				"aws.cloudtrail.shared_event_id":                                                         "se-1",
				"aws.cloudtrail.vpc_endpoint_account_id":                                                 "777788889999",
				"aws.cloudtrail.addendum.reason":                                                         "DELIVERY_DELAY",
				"aws.cloudtrail.addendum.original_event_id":                                              "e0",
				"aws.cloudtrail.tls_details.key_exchange":                                                "x25519",
				"related.user": "app",
			}},
		{"a basic-format session creation date", rec(`"eventSource":"s3.amazonaws.com","eventName":"X","userIdentity":{"type":"AssumedRole","sessionContext":{"attributes":{"creationDate":"20250601T110000Z"}}}`),
			map[string]string{"aws.cloudtrail.user_identity.session_context.creation_date": "2025-06-01T11:00:00.000Z"}},
		{"resources that are not a list are kept as they are", rec(`"eventSource":"s3.amazonaws.com","eventName":"X","resources":{"ARN":"arn:aws:s3:::b","type":"AWS::S3::Bucket"}`),
			map[string]string{"aws.cloudtrail.resources.ARN": "arn:aws:s3:::b", "aws.cloudtrail.resources.arn": "", "aws.cloudtrail.resources.type": "AWS::S3::Bucket"}},
		// e-mail shaped names
		{"an SSO session named by e-mail", rec(`"eventSource":"s3.amazonaws.com","eventName":"ListBuckets","userIdentity":{"type":"AssumedRole","principalId":"AROASSO:jane.doe@example.com",` +
			`"arn":"arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin_0123/jane.doe@example.com","sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123","userName":"AWSReservedSSO_Admin_0123"}}}`),
			map[string]string{"user.name": "AWSReservedSSO_Admin_0123", "user.email": "jane.doe@example.com", "user.domain": "",
				"related.user": "AROASSO:jane.doe@example.com|AWSReservedSSO_Admin_0123|jane.doe|jane.doe@example.com"}},
		{"an IAM user named by e-mail keeps the whole name", rec(`"eventSource":"s3.amazonaws.com","eventName":"ListBuckets","userIdentity":{"type":"IAMUser","principalId":"AIDA1","arn":"arn:aws:iam::111122223333:user/ops@example.com","userName":"ops@example.com"}`),
			map[string]string{"user.name": "ops@example.com", "user.email": "ops@example.com", "user.domain": "", "related.user": "AIDA1|ops@example.com",
				"user.entity.id": "arn:aws:iam::111122223333:user/ops@example.com"}},
		{"session names in other partitions", rec(`"eventSource":"s3.amazonaws.com","eventName":"ListBuckets","userIdentity":{"type":"FederatedUser","arn":"arn:aws-cn:sts::111122223333:federated-user/bob@example.cn"}`),
			map[string]string{"user.email": "bob@example.cn", "related.user": "bob|bob@example.cn"}},
		{"an Identity Center user's session and user id",
			rec(`"eventSource":"s3.amazonaws.com","eventName":"ListBuckets","userIdentity":{"type":"IdentityCenterUser","arn":"arn:aws:sts::111122223333:assumed-role/r/carol@example.com","onBehalfOf":{"userId":"u-123","identityStoreArn":"arn:aws:identitystore::111122223333:identitystore/d-1"}}`),
			map[string]string{"user.id": "u-123", "aws.cloudtrail.user_identity.on_behalf_of.user_id": "u-123",
				"aws.cloudtrail.user_identity.on_behalf_of.identity_store_arn": "arn:aws:identitystore::111122223333:identitystore/d-1",
				"related.user": "carol|carol@example.com|u-123", "user.email": "carol@example.com"}},
		// AWS services acting
		{"an AWS service is a service, not a user", rec(`"eventSource":"sts.amazonaws.com","eventName":"AssumeRole","sourceIPAddress":"ec2.amazonaws.com","userIdentity":{"type":"AWSService","invokedBy":"ec2.amazonaws.com"},"requestParameters":{"roleArn":"arn:aws:iam::111122223333:role/app-role","roleSessionName":"i-0abc1234def567890"}`),
			map[string]string{"service.name": "ec2.amazonaws.com", "service.entity.id": "ec2.amazonaws.com", "user.name": "", "user.id": "",
				"related.hosts": "", "related.ip": ""}},
		{"a service-linked role session names its service", rec(`"eventSource":"config.amazonaws.com","eventName":"X","userIdentity":{"type":"AssumedRole","principalId":"AROASLR:AWSConfig-Describe",` +
			`"arn":"arn:aws:sts::111122223333:assumed-role/AWSServiceRoleForConfig/AWSConfig-Describe","sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::111122223333:role/aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig","userName":"AWSServiceRoleForConfig"}}}`),
			map[string]string{"service.name": "config.amazonaws.com", "user.name": "", "user.id": "", "related.user": "AWSConfig-Describe"}},
		{"or its invokedBy", rec(`"eventSource":"ec2.amazonaws.com","eventName":"X","userIdentity":{"type":"AssumedRole","invokedBy":"autoscaling.amazonaws.com",` +
			`"arn":"arn:aws:sts::111122223333:assumed-role/AWSServiceRoleForAutoScaling/AutoScaling","sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::111122223333:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling","userName":"AWSServiceRoleForAutoScaling"}}}`),
			map[string]string{"service.name": "autoscaling.amazonaws.com", "user.name": ""}},
		{"invokedBy alone makes no service", rec(`"eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","userIdentity":{"type":"IAMUser","principalId":"AIDA1","userName":"alice","invokedBy":"signin.amazonaws.com"}`),
			map[string]string{"service.name": "", "user.name": "alice", "user.id": "AIDA1"}},
		// cloud.service.name
		{"the service of an AWS endpoint", rec(`"eventSource":"ec2-instance-connect.amazonaws.com","eventName":"SendSSHPublicKey"`),
			map[string]string{"cloud.service.name": "ec2-instance-connect", "cloud.provider": "aws"}},
		{"a dotted service name", rec(`"eventSource":"data.iot.amazonaws.com","eventName":"Publish"`),
			map[string]string{"cloud.service.name": "data.iot"}},
		{"no service outside amazonaws.com", rec(`"eventSource":"signin.aws.example","eventName":"X"`),
			map[string]string{"cloud.service.name": ""}},
		// categorisation fixed by integrations PR 20403
		{"DeleteObject is a deletion", rec(`"eventSource":"s3.amazonaws.com","eventName":"DeleteObject"`),
			map[string]string{"event.category": "file", "event.type": "deletion"}},
		{"Converse is an api call", rec(`"eventSource":"bedrock.amazonaws.com","eventName":"Converse"`),
			map[string]string{"event.category": "api", "event.type": "info"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkFields(t, Parser{}, tc.record, tc.want)
		})
	}
}

// fmtRole fills the ec2RoleDelivery of an EC2 instance role's identity.
func fmtRole(identity, delivery string) string {
	return strings.Replace(identity, "%s", delivery, 1)
}

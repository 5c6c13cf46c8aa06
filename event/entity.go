package event

import (
	"slices"
	"strconv"
	"strings"

	"github.com/valyala/fastjson"
)

// The actor/target entity mapping of Elastic's aws.cloudtrail pipeline (the
// script it runs for documents tagged actor_target_mapping): who acted
// (actor.entity.id, classified into user/host/service.entity.id or
// entity.id), on what (target.entity.id, classified into
// user/host/service.target.entity.id or entity.target.id), and every
// identity and resource the record names (related.entity). Implemented from
// reading the pipeline; see the README's "ECS mapping" note for the revision.

// entities is the mapping's result for one event.
type entities struct {
	related []string // sorted, de-duplicated (a TreeSet in the pipeline)
	target  []string // sorted, de-duplicated
	// the targets by kind
	userTargets, hostTargets, serviceTargets, genericTargets []string
	hostTargetIDs                                            []string // host.target.id: bare EC2 instance ids
	actor                                                    string
	actorField                                               string // user/host/service.entity.id or entity.id
	// userEntity is user.entity.id when the actor is a user: the actor,
	// except for assumed roles, whose role ARN stands for all its sessions
	userEntity string
}

// entityFields are the fields the mapping writes.
var entityFields = map[string]func(x *entities) []string{
	"related.entity":           func(x *entities) []string { return x.related },
	"target.entity.id":         func(x *entities) []string { return x.target },
	"user.target.entity.id":    func(x *entities) []string { return x.userTargets },
	"host.target.entity.id":    func(x *entities) []string { return x.hostTargets },
	"host.target.id":           func(x *entities) []string { return x.hostTargetIDs },
	"service.target.entity.id": func(x *entities) []string { return x.serviceTargets },
	"entity.target.id":         func(x *entities) []string { return x.genericTargets },
	"actor.entity.id":          func(x *entities) []string { return actorIf(x, "") },
	"user.entity.id": func(x *entities) []string {
		if x.actorField != "user.entity.id" {
			return nil
		}
		return []string{x.userEntity}
	},
	"host.entity.id":    func(x *entities) []string { return actorIf(x, "host.entity.id") },
	"service.entity.id": func(x *entities) []string { return actorIf(x, "service.entity.id") },
	"entity.id":         func(x *entities) []string { return actorIf(x, "entity.id") },
}

func actorIf(x *entities, field string) []string {
	if x.actor == "" || field != "" && x.actorField != field {
		return nil
	}
	return []string{x.actor}
}

// entitySet collects the values of one of the script's sets.
type entitySet map[string]bool

func (s entitySet) add(vs ...string) {
	for _, v := range vs {
		if v != "" {
			s[v] = true
		}
	}
}

func (s entitySet) sorted() []string {
	out := make([]string, 0, len(s))
	for v := range s {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

// strAt is the script's $(path, null) for a string: the string at a path of
// objects (no lists on the way), as the drop-empty step left it.
func strAt(v *fastjson.Value, path ...string) string {
	return str(v, path...)
}

// listAt is $(path, []): the list at path (nil when absent or not a list).
func listAt(v *fastjson.Value, path ...string) []*fastjson.Value {
	c := v.Get(path...)
	if c == nil || c.Type() != fastjson.TypeArray {
		return nil
	}
	return c.GetArray()
}

// stringsIn returns the string items of a list.
func stringsIn(items []*fastjson.Value) []string {
	var out []string
	for _, it := range items {
		if it.Type() == fastjson.TypeString {
			out = append(out, string(it.GetStringBytes()))
		}
	}
	return out
}

// fieldsOf adds the strings at several paths (each a dotted path under the
// record) to s.
func (s entitySet) fieldsOf(j *fastjson.Value, paths ...string) {
	for _, p := range paths {
		s.add(strAt(j, strings.Split(p, ".")...))
	}
}

// each calls fn with every object of the list at path.
func each(j *fastjson.Value, path string, fn func(*fastjson.Value)) {
	for _, it := range listAt(j, strings.Split(path, ".")...) {
		if it.Type() == fastjson.TypeObject {
			fn(it)
		}
	}
}

// resourceARNs are the ARNs of the resources list.
func resourceARNs(j *fastjson.Value) []string {
	var out []string
	each(j, "resources", func(r *fastjson.Value) { out = append(out, strAt(r, "ARN")) })
	return out
}

// Resource types and id prefixes that classify targets and actors (the
// script's parameters).
var (
	userResourceTypes = map[string]bool{"assumed-role": true, "federated-user": true, "instance-profile": true,
		"mfa": true, "role": true, "serialNumber": true, "user": true}
	hostResourceTypes    = map[string]bool{"instance": true}
	serviceResourceTypes = map[string]bool{"alarm": true, "cluster": true, "configuration-recorder": true, "db": true,
		"detector": true, "dhcp-options": true, "document": true, "file-system": true, "function": true,
		"global-cluster": true, "group": true, "ipset": true, "key": true, "loadbalancer": true, "log-group": true,
		"log-stream": true, "model": true, "mount-target": true, "network-acl": true, "network-interface": true,
		"parameter": true, "policy": true, "resolver-query-log-config": true, "rule": true, "rulegroup": true,
		"secret": true, "security-group": true, "session": true, "stack": true, "stack-set": true, "subnet": true,
		"table": true, "topic": true, "trail": true, "trust-anchor": true, "vpc": true, "webacl": true}
	hostIDPrefixes    = []string{"i-"}
	serviceIDPrefixes = []string{"sg-", "sgr-", "eni-", "vpc-", "subnet-", "acl-", "rtb-", "igw-", "nat-", "vpce-", "tgw-", "pcx-"}
	userIdentityTypes = map[string]bool{"AssumedRole": true, "IAMUser": true, "Root": true}
)

// arnResourceType returns the resource type of an ARN
// (arn:partition:service:region:account:type/id or type:id) and its
// service, ok false when it has fewer than six parts.
func arnResourceType(arn string) (service, resourceType string, ok bool) {
	parts := strings.Split(arn, ":")
	if len(parts) < 6 {
		return "", "", false
	}
	rt := parts[5]
	if i := strings.IndexByte(rt, '/'); i > 0 {
		rt = rt[:i]
	}
	return parts[2], rt, true
}

func isServiceRole(s string) bool {
	return strings.Contains(s, "/AWSServiceRoleFor") || strings.Contains(s, "/aws-service-role/")
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// classifyTarget says which target field a target belongs to.
func classifyTarget(t string) string {
	if strings.HasPrefix(t, "arn:") {
		service, rt, ok := arnResourceType(t)
		switch {
		case !ok:
		case isServiceRole(t):
			return "service"
		case userResourceTypes[rt]:
			return "user"
		case hostResourceTypes[rt]:
			return "host"
		case serviceResourceTypes[rt], service == "s3":
			return "service"
		}
		return "generic"
	}
	switch {
	case len(t) == 20 && strings.HasPrefix(t, "AKIA"):
		return "user"
	case hasAnyPrefix(t, hostIDPrefixes):
		return "host"
	case hasAnyPrefix(t, serviceIDPrefixes):
		return "service"
	}
	return "generic"
}

// classifyActor says which entity field the actor belongs to.
func classifyActor(actor, userType string) string {
	switch {
	case userType == "AWSService", isServiceRole(actor):
		return "service.entity.id"
	case userIdentityTypes[userType]:
		return "user.entity.id"
	}
	if strings.HasPrefix(actor, "arn:") {
		if _, rt, ok := arnResourceType(actor); ok {
			switch rt {
			case "user", "role", "assumed-role", "federated-user":
				return "user.entity.id"
			case "instance":
				return "host.entity.id"
			}
		}
	}
	if strings.HasPrefix(actor, "i-") {
		return "host.entity.id"
	}
	return "entity.id"
}

// buildEntities runs the mapping over a raw record.
func buildEntities(j *fastjson.Value) *entities {
	related, target := entitySet{}, entitySet{}
	actor := strAt(j, "userIdentity", "arn")
	if actor == "" {
		actor = strAt(j, "userIdentity", "onBehalfOf", "userId")
	}
	related.fieldsOf(j, "userIdentity.accessKeyId", "userIdentity.arn", "userIdentity.userName",
		"userIdentity.sessionContext.sessionIssuer.arn", "userIdentity.sessionContext.sessionIssuer.userName")
	userType := strAt(j, "userIdentity", "type")
	if userType == "IdentityCenterUser" {
		related.fieldsOf(j, "userIdentity.onBehalfOf.identityStoreArn")
	}
	related.add(resourceARNs(j)...)

	source, name := strAt(j, "eventSource"), strAt(j, "eventName")
	is := func(names ...string) bool { return slices.Contains(names, name) }
	targetField := func(paths ...string) { target.fieldsOf(j, paths...) }
	switch source {
	case "cloudformation.amazonaws.com":
		switch {
		case is("CreateStackSet"):
			targetField("responseElements.stackSetId")
		case is("CreateStack"):
			targetField("responseElements.stackId")
		}
	case "cloudtrail.amazonaws.com":
		related.fieldsOf(j, "requestParameters.name", "requestParameters.s3BucketName",
			"responseElements.cloudWatchLogsLogGroupArn", "responseElements.cloudWatchLogsRoleArn",
			"responseElements.kmsKeyId", "responseElements.snsTopicARN", "responseElements.trailARN", "responseElements.name")
		switch {
		case is("DeleteTrail", "StopLogging"):
			targetField("requestParameters.name")
		case is("DescribeTrails"):
			targetField("recipientAccountId")
		}
	case "config.amazonaws.com":
		related.fieldsOf(j, "requestParameters.configurationRecorderName")
		if is("StopConfigurationRecorder", "StartConfigurationRecorder") {
			targetField("requestParameters.configurationRecorderName")
		}
	case "ec2-instance-connect.amazonaws.com":
		if is("SendSSHPublicKey", "SendSerialConsoleSSHPublicKey") {
			targetField("requestParameters.instanceId")
		}
	case "ec2.amazonaws.com":
		ec2Entities(j, name, related, target)
	case "elasticfilesystem.amazonaws.com":
		switch {
		case is("DeleteFileSystem"):
			targetField("requestParameters.fileSystemId")
		case is("DeleteMountTarget"):
			targetField("requestParameters.mountTargetId")
		}
	case "events.amazonaws.com":
		if is("DeleteRule") {
			targetField("requestParameters.name")
		}
	case "guardduty.amazonaws.com":
		related.fieldsOf(j, "requestParameters.detectorId", "responseElements.detectorId")
		switch {
		case is("CreateDetector"):
			targetField("responseElements.detectorId")
		case is("DeleteDetector"):
			targetField("requestParameters.detectorId")
		}
	case "iam.amazonaws.com":
		related.fieldsOf(j, "requestParameters.userName", "requestParameters.serialNumber", "requestParameters.accessKeyId",
			"requestParameters.policyArn", "requestParameters.roleName", "requestParameters.policyName",
			"responseElements.accessKey.userName", "responseElements.accessKey.accessKeyId", "responseElements.user.arn",
			"responseElements.user.userId", "responseElements.user.userName", "responseElements.userId",
			"responseElements.role.arn", "responseElements.serialNumber")
		switch {
		case is("AttachGroupPolicy"):
			targetField("requestParameters.groupName")
		case is("AttachRolePolicy", "ListAttachedRolePolicies", "UpdateAssumeRolePolicy"):
			targetField("requestParameters.roleName")
		case is("AttachUserPolicy"):
			targetField("requestParameters.policyArn", "requestParameters.userName")
		case is("CreateAccessKey"):
			targetField("responseElements.accessKey.accessKeyId", "requestParameters.userName")
		case is("CreateUser", "DeactivateMFADevice"):
			targetField("requestParameters.userName")
		case is("DeleteVirtualMFADevice"):
			targetField("requestParameters.serialNumber")
		case is("GetPolicy"):
			targetField("requestParameters.policyArn")
		case is("CreatePolicy"):
			targetField("responseElements.policy.arn")
		case is("ListRoles", "ListUsers"):
			targetField("recipientAccountId")
		}
	case "kms.amazonaws.com":
		related.fieldsOf(j, "requestParameters.keyId", "responseElements.keyId", "responseElements.keyMetadata.arn",
			"responseElements.keyMetadata.keyId")
		if is("DisableKey", "ScheduleKeyDeletion") {
			target.add(resourceARNs(j)...)
		}
	case "lambda.amazonaws.com":
		related.fieldsOf(j, "requestParameters.functionName", "responseElements.functionArn",
			"responseElements.functionName", "responseElements.role")
		related.add(stringsIn(listAt(j, "responseElements", "vpcConfig", "securityGroupIds"))...)
		related.add(stringsIn(listAt(j, "responseElements", "vpcConfig", "subnetIds"))...)
		// Lambda event names carry an API version (AddPermission20150331v2)
		switch {
		case strings.Contains(name, "AddPermission"):
			targetField("requestParameters.functionName")
		case strings.Contains(name, "ListFunctions"):
			targetField("recipientAccountId")
		}
	case "logs.amazonaws.com":
		switch {
		case is("DeleteLogGroup"):
			targetField("requestParameters.logGroupName")
		case is("DeleteLogStream"):
			targetField("requestParameters.logStreamName")
		}
	case "monitoring.amazonaws.com":
		if is("DeleteAlarms") {
			target.add(stringsIn(listAt(j, "requestParameters", "alarmNames"))...)
		}
	case "rds.amazonaws.com":
		related.fieldsOf(j, "requestParameters.dBInstanceIdentifier", "requestParameters.dBInstanceArn",
			"responseElements.dBInstanceIdentifier", "responseElements.dbInstanceArn", "responseElements.dBSubnetGroup.vpcId")
		each(j, "responseElements.dBSubnetGroup.subnets", func(i *fastjson.Value) { related.add(strAt(i, "subnetIdentifier")) })
		each(j, "responseElements.vpcSecurityGroups", func(i *fastjson.Value) { related.add(strAt(i, "vpcSecurityGroupId")) })
		switch {
		case is("DeleteDBCluster", "ModifyDBCluster", "StopDBCluster"):
			targetField("responseElements.dBClusterArn")
		case is("DeleteDBInstance", "ModifyDBInstance", "RestoreDBInstanceFromDBSnapshot", "RestoreDBInstanceFromS3", "StopDBInstance"):
			targetField("responseElements.dBInstanceArn")
		case is("DeleteGlobalCluster"):
			targetField("responseElements.globalClusterArn")
		case is("ModifyDBClusterSnapshotAttribute"):
			targetField("responseElements.dBClusterSnapshotIdentifier")
		case is("ModifyDBSnapshotAttribute"):
			targetField("responseElements.dBSnapshotIdentifier")
		case is("DescribeDBInstances"):
			targetField("recipientAccountId")
		}
	case "rolesanywhere.amazonaws.com":
		if is("CreateTrustAnchor") {
			targetField("responseElements.trustAnchor.trustAnchorArn")
		}
	case "route53resolver.amazonaws.com":
		if is("DeleteResolverQueryLogConfig") {
			targetField("responseElements.resolverQueryLogConfig.arn")
		}
	case "s3.amazonaws.com":
		related.fieldsOf(j, "requestParameters.bucketName")
		switch {
		case is("CopyObject", "PutBucketLogging", "PutBucketVersioning", "PutObject", "GetBucketPolicy", "ListObjects",
			"HeadObject", "GetObject", "DeleteObject", "DeleteBucket"):
			target.add(resourceARNs(j)...)
		case is("PutBucketReplication"):
			target.add(resourceARNs(j)...)
			targetField("requestParameters.ReplicationConfiguration.Rule.Destination.Bucket")
		case is("ListBuckets"):
			targetField("recipientAccountId")
		}
	case "secretsmanager.amazonaws.com":
		switch {
		case is("BatchGetSecretValue"):
			target.add(stringsIn(listAt(j, "requestParameters", "secretIdList"))...)
		case is("GetSecretValue"):
			targetField("requestParameters.secretId")
		}
	case "signin.amazonaws.com":
		if is("ConsoleLogin") {
			targetField("recipientAccountId")
		}
	case "ssm.amazonaws.com":
		switch {
		case is("GetParameter", "GetParameters", "CreateControlChannel", "OpenControlChannel"):
			target.add(resourceARNs(j)...)
		case is("StartSession"):
			targetField("requestParameters.target")
		case is("CreateDocument"):
			targetField("requestParameters.name")
		case is("TerminateSession", "OpenDataChannel"):
			targetField("requestParameters.sessionId")
		case is("SendCommand"):
			ids := stringsIn(listAt(j, "requestParameters", "instanceIds"))
			if len(listAt(j, "requestParameters", "instanceIds")) == 0 {
				each(j, "requestParameters.targets", func(t *fastjson.Value) {
					ids = append(ids, stringsIn(listAt(t, "values"))...)
				})
			}
			if len(ids) == 1 && ids[0] == "*" { // every instance: the account
				ids = []string{strAt(j, "recipientAccountId")}
			}
			target.add(ids...)
		case is("ListInstanceAssociations"):
			targetField("recipientAccountId")
		}
	case "sts.amazonaws.com":
		related.fieldsOf(j, "requestParameters.roleArn", "sourceIdentity", "additionalEventData.MFAIdentifier",
			"responseElements.assumedRoleUser.arn", "requestParameters.roleSessionName", "responseElements.accessKeyId")
		switch {
		case is("AssumeRole"):
			switch userType {
			case "AWSService":
				actor = strAt(j, "userIdentity", "invokedBy")
			case "AssumedRole":
				actor = strAt(j, "userIdentity", "sessionContext", "sessionIssuer", "arn")
			default:
				actor = strAt(j, "userIdentity", "arn")
			}
			targetField("requestParameters.roleArn")
		case is("GetCallerIdentity"):
			targetField("recipientAccountId")
			actor = strAt(j, "userIdentity", "arn")
		}
	case "wafv2.amazonaws.com":
		related.fieldsOf(j, "requestParameters.id", "responseElements.summary")
		if is("DeleteRuleGroup", "DeleteWebACL") {
			targetField("requestParameters.id")
		}
	case "sns.amazonaws.com":
		switch {
		case is("CreateTopic"):
			targetField("responseElements.topicArn")
		case is("Subscribe", "Publish"):
			targetField("requestParameters.topicArn")
		}
	case "bedrock.amazonaws.com":
		if is("Converse") {
			targetField("requestParameters.modelId")
		}
	case "elasticloadbalancing.amazonaws.com":
		if is("DescribeLoadBalancers") {
			targetField("recipientAccountId")
		}
	case "dynamodb.amazonaws.com":
		if is("ListTables") {
			targetField("recipientAccountId")
		}
	}

	x := &entities{target: target.sorted(), actor: actor}
	for _, t := range x.target {
		switch classifyTarget(t) {
		case "user":
			x.userTargets = append(x.userTargets, t)
		case "host":
			x.hostTargets = append(x.hostTargets, t)
			if id := instanceID(t); id != "" {
				x.hostTargetIDs = append(x.hostTargetIDs, id)
			}
		case "service":
			x.serviceTargets = append(x.serviceTargets, t)
		default:
			x.genericTargets = append(x.genericTargets, t)
		}
	}
	related.add(x.target...)
	x.related = related.sorted()
	if actor != "" {
		x.actorField = classifyActor(actor, userType)
		x.userEntity = actor
		if role := strAt(j, "userIdentity", "sessionContext", "sessionIssuer", "arn"); userType == "AssumedRole" && role != "" {
			x.userEntity = role
		}
	}
	slices.Sort(x.hostTargetIDs)
	x.hostTargetIDs = slices.Compact(x.hostTargetIDs)
	return x
}

// instanceID is the bare EC2 instance id of a host target (an i- id, or an
// ec2 ARN of resource type instance), or "" for other hosts.
func instanceID(t string) string {
	if strings.HasPrefix(t, "arn:") {
		parts := strings.Split(t, ":")
		if len(parts) < 6 || parts[2] != "ec2" || !strings.HasPrefix(parts[5], "instance/") {
			return ""
		}
		t = parts[5][len("instance/"):]
	}
	if !strings.HasPrefix(t, "i-") {
		return ""
	}
	return t
}

// ec2Entities is the mapping for ec2.amazonaws.com.
func ec2Entities(j *fastjson.Value, name string, related, target entitySet) {
	related.fieldsOf(j, "requestParameters.groupId", "requestParameters.groupName", "requestParameters.roleName",
		"requestParameters.subnetId", "requestParameters.volumeId", "requestParameters.networkInterfaceId",
		"requestParameters.vpcId", "requestParameters.snapshotId", "responseElements.groupId",
		"responseElements.reservationId", "responseElements.vpc.vpcId", "responseElements.vpc.dhcpOptionsId",
		"responseElements.snapshotId", "responseElements.volumeId")
	each(j, "responseElements.securityGroupRuleSet.items", func(i *fastjson.Value) {
		related.add(strAt(i, "groupId"), strAt(i, "referencedGroupInfo", "groupId"), strAt(i, "securityGroupRuleId"))
	})
	each(j, "responseElements.groupSet.items", func(i *fastjson.Value) { related.add(strAt(i, "groupId")) })
	each(j, "requestParameters.groupSet.items", func(i *fastjson.Value) { related.add(strAt(i, "groupId")) })
	each(j, "requestParameters.instancesSet.items", func(i *fastjson.Value) { related.add(strAt(i, "instanceId")) })
	each(j, "responseElements.instancesSet.items", func(in *fastjson.Value) {
		related.add(strAt(in, "subnetId"), strAt(in, "vpcId"), strAt(in, "instanceId"), strAt(in, "imageId"),
			strAt(in, "iamInstanceProfile", "arn"))
		each(in, "networkInterfaceSet.items", func(n *fastjson.Value) {
			related.add(strAt(n, "networkInterfaceId"), strAt(n, "vpcId"), strAt(n, "subnetId"))
			each(n, "groupSet.items", func(g *fastjson.Value) { related.add(strAt(g, "groupId")) })
		})
	})
	each(j, "requestParameters.revokedSecurityGroupRuleSet.items", func(i *fastjson.Value) {
		related.add(strAt(i, "securityGroupRuleId"), strAt(i, "groupId"))
	})
	is := func(names ...string) bool { return slices.Contains(names, name) }
	targetField := func(paths ...string) { target.fieldsOf(j, paths...) }
	switch {
	case is("AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress"):
		targetField("requestParameters.groupId")
		each(j, "responseElements.securityGroupRuleSet.items", func(i *fastjson.Value) { target.add(strAt(i, "securityGroupRuleId")) })
	case is("CreateTrafficMirrorFilter"):
		targetField("responseElements.CreateTrafficMirrorFilterResponse.trafficMirrorFilter.trafficMirrorFilterId")
	case is("CreateTrafficMirrorFilterRule"):
		targetField("responseElements.CreateTrafficMirrorFilterRuleResponse.trafficMirrorFilterRule.trafficMirrorFilterRuleId")
	case is("CreateTrafficMirrorSession"):
		targetField("responseElements.CreateTrafficMirrorSessionResponse.trafficMirrorSession.trafficMirrorSessionId")
	case is("CreateTrafficMirrorTarget"):
		targetField("responseElements.CreateTrafficMirrorTargetResponse.trafficMirrorTarget.trafficMirrorTargetId")
	case is("DeleteFlowLogs"):
		targetField("requestParameters.DeleteFlowLogsRequest.FlowLogId.content")
	case is("DeleteNetworkAcl"):
		targetField("requestParameters.networkAclId")
	case is("DeleteNetworkAclEntry"):
		targetField("requestParameters.networkAclId")
		if n := j.Get("requestParameters", "ruleNumber"); n != nil {
			switch n.Type() {
			case fastjson.TypeNumber:
				if i, err := n.Int64(); err == nil {
					target.add(strconv.FormatInt(i, 10))
				} else {
					target.add(n.String())
				}
			case fastjson.TypeString:
				target.add(string(n.GetStringBytes()))
			}
		}
	case is("GetPasswordData"):
		targetField("requestParameters.instanceId")
	case is("ModifyImageAttribute"):
		targetField("requestParameters.imageId")
	case is("ModifySnapshotAttribute"):
		targetField("requestParameters.snapshotId")
	case is("DescribeSecurityGroups", "DescribeNetworkInterfaces", "DescribeRegions", "DescribeVpcs",
		"DescribeNetworkAcls", "DescribeVolumes"):
		targetField("recipientAccountId")
	}
}

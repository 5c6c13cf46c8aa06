package event

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/valyala/fastjson"
)

// Dataset is the value of event.dataset and data_stream.dataset for
// CloudTrail events, as Elastic's integration indexes them.
const Dataset = "aws.cloudtrail"

// flattenedLimit is the pipeline's limit on the string form below which the
// object is also kept under aws.cloudtrail.flattened.
const flattenedLimit = 32766

// category is one entry of the pipeline's per-action categorisation table.
type category struct {
	cat, typ []string
}

// categories is the ECS categorisation the integration applies per
// eventName (overwriting the default event.type ["info"]). Since
// integrations PR 20403 (aws 7.1.3/7.4.0) every entry has a type: Publish
// and Converse are api/info, SendCommand process/start, DeleteObject
// file/deletion.
var categories = func() map[string]category {
	m := map[string]category{}
	for _, a := range []string{"Converse", "DescribeRegions", "Publish"} {
		m[a] = category{[]string{"api"}, []string{"info"}}
	}
	for _, a := range []string{"AssumeRole", "ConsoleLogin", "GetCallerIdentity"} {
		m[a] = category{[]string{"authentication"}, []string{"info"}}
	}
	for _, a := range []string{"Subscribe"} {
		m[a] = category{[]string{"configuration"}, []string{"change"}}
	}
	for _, a := range []string{"CreateTopic"} {
		m[a] = category{[]string{"configuration"}, []string{"creation"}}
	}
	for _, a := range []string{"DeleteTrail"} {
		m[a] = category{[]string{"configuration"}, []string{"deletion"}}
	}
	for _, a := range []string{"DescribeTrails"} {
		m[a] = category{[]string{"configuration"}, []string{"info"}}
	}
	for _, a := range []string{"DescribeDBInstances", "ListTables"} {
		m[a] = category{[]string{"database"}, []string{"info"}}
	}
	for _, a := range []string{"PutObject"} {
		m[a] = category{[]string{"file"}, []string{"change"}}
	}
	for _, a := range []string{"CreateBucket", "CreateDocument"} {
		m[a] = category{[]string{"file"}, []string{"creation"}}
	}
	for _, a := range []string{"DeleteBucket", "DeleteObject"} {
		m[a] = category{[]string{"file"}, []string{"deletion"}}
	}
	for _, a := range []string{"GetObject", "HeadObject", "ListBuckets", "ListObjects"} {
		m[a] = category{[]string{"file"}, []string{"info"}}
	}
	for _, a := range []string{"DescribeInstances", "DescribeVolumes", "ListInstanceAssociations"} {
		m[a] = category{[]string{"host"}, []string{"info"}}
	}
	for _, a := range []string{"SetDefaultPolicyVersion", "SetSecurityTokenServicePreferences", "UpdateAccountPasswordPolicy", "UpdateRole"} {
		m[a] = category{[]string{"iam"}, []string{"admin", "change"}}
	}
	for _, a := range []string{"CreateKeyPair"} {
		m[a] = category{[]string{"iam"}, []string{"admin", "creation"}}
	}
	for _, a := range []string{"AttachRolePolicy"} {
		m[a] = category{[]string{"iam"}, []string{"change"}}
	}
	for _, a := range []string{"CreatePolicy"} {
		m[a] = category{[]string{"iam"}, []string{"creation"}}
	}
	for _, a := range []string{"AddUserToGroup", "AttachGroupPolicy", "DeleteGroupPolicy", "DetachGroupPolicy", "PutGroupPolicy", "RemoveUserFromGroup", "UpdateGroup"} {
		m[a] = category{[]string{"iam"}, []string{"group", "change"}}
	}
	for _, a := range []string{"CreateGroup"} {
		m[a] = category{[]string{"iam"}, []string{"group", "creation"}}
	}
	for _, a := range []string{"DeleteGroup"} {
		m[a] = category{[]string{"iam"}, []string{"group", "deletion"}}
	}
	for _, a := range []string{"GetGroup", "GetGroupPolicy", "ListAttachedGroupPolicies", "ListGroupPolicies", "ListGroups"} {
		m[a] = category{[]string{"iam"}, []string{"group", "info"}}
	}
	for _, a := range []string{"GetPolicy", "ListAttachedRolePolicies", "ListRoles"} {
		m[a] = category{[]string{"iam"}, []string{"info"}}
	}
	for _, a := range []string{"AttachUserPolicy", "ChangePassword", "CreateAccessKey", "CreateVirtualMFADevice", "DeactivateMFADevice", "DeleteAccessKey", "DeleteSSHPublicKey", "DeleteUserPermissionsBoundary", "DeleteUserPolicy", "DeleteVirtualMFADevice", "DetachUserPolicy", "EnableMFADevice", "PutUserPermissionsBoundary", "PutUserPolicy", "TagUser", "UntagUser", "UpdateAccessKey", "UpdateLoginProfile", "UpdateSSHPublicKey", "UpdateUser"} {
		m[a] = category{[]string{"iam"}, []string{"user", "change"}}
	}
	for _, a := range []string{"CreateUser"} {
		m[a] = category{[]string{"iam"}, []string{"user", "creation"}}
	}
	for _, a := range []string{"DeleteUser"} {
		m[a] = category{[]string{"iam"}, []string{"user", "deletion"}}
	}
	for _, a := range []string{"GetUser", "GetUserPolicy", "ListAttachedUserPolicies", "ListGroupsForUser", "ListUserPolicies", "ListUserTags", "ListUsers"} {
		m[a] = category{[]string{"iam"}, []string{"user", "info"}}
	}
	for _, a := range []string{"AuthorizeSecurityGroupIngress"} {
		m[a] = category{[]string{"network"}, []string{"access"}}
	}
	for _, a := range []string{"DescribeLoadBalancers", "DescribeNetworkAcls", "DescribeNetworkInterfaces", "DescribeSecurityGroups", "DescribeVpcs"} {
		m[a] = category{[]string{"network"}, []string{"info"}}
	}
	for _, a := range []string{"ListFunctions"} {
		m[a] = category{[]string{"package"}, []string{"info"}}
	}
	for _, a := range []string{"SendCommand"} {
		m[a] = category{[]string{"process"}, []string{"start"}}
	}
	for _, a := range []string{"TerminateSession"} {
		m[a] = category{[]string{"session"}, []string{"end"}}
	}
	for _, a := range []string{"CreateControlChannel", "CreateDataChannel", "OpenControlChannel", "OpenDataChannel", "StartSession"} {
		m[a] = category{[]string{"session"}, []string{"start"}}
	}
	return m
}()

// present returns the value at keys if the pipeline's drop-empty step keeps it.
func present(v *fastjson.Value, keys ...string) *fastjson.Value {
	c := v.Get(keys...)
	if c == nil || isEmpty(c) {
		return nil
	}
	return c
}

// str returns the string at keys, or "" (also for non-strings and for the
// strings drop-empty removes).
func str(v *fastjson.Value, keys ...string) string { return strings.Clone(strView(v, keys...)) }

// strView is strView(e.get(keys...)), parsing only what stringAt does.
func (e *Event) strView(keys ...string) string {
	if s := e.getString(keys...); !droppedString(s) {
		return s
	}
	return ""
}

// strView is str without the copy: the string is the parsed record's and
// lives as long as the event.
func strView(v *fastjson.Value, keys ...string) string {
	c := v.Get(keys...)
	if c == nil || c.Type() != fastjson.TypeString {
		return ""
	}
	if s := b2s(c.GetStringBytes()); !droppedString(s) {
		return s
	}
	return ""
}

// ecsBuilder writes the ECS document into an arena.
type ecsBuilder struct {
	a   *fastjson.Arena
	doc *fastjson.Value
}

// set puts v at a dotted path, creating objects on the way.
func (b *ecsBuilder) set(path string, v *fastjson.Value) {
	o := b.doc
	for {
		k, rest, more := strings.Cut(path, ".")
		if !more {
			o.Set(k, v)
			return
		}
		c := o.Get(k)
		if c == nil || c.Type() != fastjson.TypeObject {
			c = b.a.NewObject()
			o.Set(k, c)
		}
		o, path = c, rest
	}
}

func (b *ecsBuilder) setStr(path, s string) {
	if s != "" {
		b.set(path, b.a.NewString(s))
	}
}

func (b *ecsBuilder) strArray(ss []string) *fastjson.Value {
	arr := b.a.NewArray()
	for i, s := range ss {
		arr.SetArrayItem(i, b.a.NewString(s))
	}
	return arr
}

// copyValue copies a raw value into the document, dropping empty values as
// the pipeline does.
func (b *ecsBuilder) copyValue(v *fastjson.Value) *fastjson.Value {
	switch v.Type() {
	case fastjson.TypeObject:
		o := b.a.NewObject()
		obj, _ := v.Object()
		obj.Visit(func(k []byte, c *fastjson.Value) {
			if !isEmpty(c) {
				o.Set(string(k), b.copyValue(c))
			}
		})
		return o
	case fastjson.TypeArray:
		arr := b.a.NewArray()
		i := 0
		for _, c := range v.GetArray() {
			if !isEmpty(c) {
				arr.SetArrayItem(i, b.copyValue(c))
				i++
			}
		}
		return arr
	}
	return v
}

// creationTime parses a session's creationDate as the pipeline's date
// processor does: ISO 8601, or the basic forms 20250601T110000Z and
// 20250601T110000.000Z.
func creationTime(s string) (string, bool) {
	if t, ok := isoTime(s); ok {
		return t, true
	}
	for _, layout := range []string{"20060102T150405Z0700", "20060102T150405.000Z0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC().Format("2006-01-02T15:04:05.000Z"), true
		}
	}
	return "", false
}

// without returns a shallow copy of object o whose member key is null, so
// that drop-empty removes it while the Java HashMap built from the record
// keeps the capacity (and so the iteration order) the key gave it.
func (b *ecsBuilder) without(o *fastjson.Value, key string) *fastjson.Value {
	c := b.a.NewObject()
	obj, _ := o.Object()
	obj.Visit(func(k []byte, v *fastjson.Value) {
		if string(k) == key {
			v = b.a.NewNull()
		}
		c.Set(string(k), v)
	})
	return c
}

// isoTime normalises an ISO 8601 time as Elasticsearch's date processor
// prints it (UTC, milliseconds).
func isoTime(s string) (string, bool) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return "", false
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z"), true
}

// buildECS computes the ECS document Elastic's aws.cloudtrail ingest
// pipeline produces for a raw CloudTrail record, less the GeoIP/ASN and
// user-agent enrichment (Event.ECS adds it) and the optional actor/target
// entity mapping.
func buildECS(e *Event) *fastjson.Value {
	a := e.arena
	b := &ecsBuilder{a: a, doc: a.NewObject()}
	j := e.root()

	if t, ok := isoTime(str(j, "eventTime")); ok {
		b.setStr("@timestamp", t)
	}
	b.setStr("ecs.version", "8.11.0")
	b.setStr("data_stream.dataset", Dataset)
	b.setStr("event.dataset", Dataset)
	b.setStr("event.module", "aws")
	b.setStr("cloud.provider", "aws")
	// what precedes the first ".amazonaws.com" of an AWS endpoint
	// (ec2-instance-connect, data.iot); other sources name no service
	if src := str(j, "eventSource"); strings.HasSuffix(src, ".amazonaws.com") {
		svc, _, _ := strings.Cut(src, ".amazonaws.com")
		b.setStr("cloud.service.name", svc)
	}

	copyTo := func(dst string, keys ...string) {
		if v := present(j, keys...); v != nil {
			b.set(dst, b.copyValue(v))
		}
	}
	var relatedUser []string
	addRelatedUser := func(s string) {
		if s == "" {
			return
		}
		for _, u := range relatedUser {
			if u == s {
				return
			}
		}
		relatedUser = append(relatedUser, s)
	}

	copyTo("aws.cloudtrail.event_version", "eventVersion")
	copyTo("aws.cloudtrail.user_identity.type", "userIdentity", "type")
	// an AWS service acting is a service, not a user: it gets service.name
	// and no user.name or user.id
	service := awsServiceActor(j.Get("userIdentity"))
	b.setStr("service.name", service)
	if service == "" {
		copyTo("user.name", "userIdentity", "userName")
		copyTo("user.id", "userIdentity", "principalId")
	}
	copyTo("aws.cloudtrail.user_identity.arn", "userIdentity", "arn")
	copyTo("cloud.account.id", "userIdentity", "accountId")
	copyTo("aws.cloudtrail.user_identity.access_key_id", "userIdentity", "accessKeyId")
	copyTo("aws.cloudtrail.user_identity.session_context.mfa_authenticated", "userIdentity", "sessionContext", "attributes", "mfaAuthenticated")
	if t, ok := creationTime(str(j, "userIdentity", "sessionContext", "attributes", "creationDate")); ok {
		b.setStr("aws.cloudtrail.user_identity.session_context.creation_date", t)
	}
	copyTo("aws.cloudtrail.user_identity.session_context.session_issuer.type", "userIdentity", "sessionContext", "sessionIssuer", "type")
	userType := str(j, "userIdentity", "type")
	if (userType == "AssumedRole" || userType == "FederatedUser") && service == "" {
		copyTo("user.name", "userIdentity", "sessionContext", "sessionIssuer", "userName")
	}
	copyTo("aws.cloudtrail.user_identity.session_context.session_issuer.principal_id", "userIdentity", "sessionContext", "sessionIssuer", "principalId")
	// The session name (an e-mail address for SSO sessions, the instance id
	// for EC2 roles) is a user too; an e-mail is also the user's address.
	var email string
	switch userType {
	case "AssumedRole", "FederatedUser", "IdentityCenterUser":
		if session, ok := sessionName(str(j, "userIdentity", "arn")); ok {
			addRelatedUser(session)
			if prefix, _, ok := strings.Cut(session, "@"); ok && prefix != "" {
				addRelatedUser(prefix)
				email = session
			}
		}
	}
	copyTo("aws.cloudtrail.user_identity.on_behalf_of.user_id", "userIdentity", "onBehalfOf", "userId")
	copyTo("aws.cloudtrail.user_identity.on_behalf_of.identity_store_arn", "userIdentity", "onBehalfOf", "identityStoreArn")
	if userType == "IdentityCenterUser" && b.doc.Get("user", "id") == nil {
		copyTo("user.id", "userIdentity", "onBehalfOf", "userId")
	}
	copyTo("aws.cloudtrail.user_identity.session_context.session_issuer.arn", "userIdentity", "sessionContext", "sessionIssuer", "arn")
	copyTo("aws.cloudtrail.user_identity.session_context.session_issuer.account_id", "userIdentity", "sessionContext", "sessionIssuer", "accountId")
	copyTo("aws.cloudtrail.user_identity.invoked_by", "userIdentity", "invokedBy")
	for _, r := range userIdentityRenames {
		copyTo(r.ecs, r.raw...)
	}
	copyTo("aws.cloudtrail.session_credential_from_console", "sessionCredentialFromConsole")
	copyTo("event.provider", "eventSource")
	copyTo("event.action", "eventName")
	// the pipeline moves (renames) additionalEventData.UserName to user.name,
	// so the additional_eventdata fields lack it
	movedUserName := str(j, "eventName") == "UserAuthentication" && b.doc.Get("user", "name") == nil &&
		present(j, "additionalEventData", "UserName") != nil
	if movedUserName {
		copyTo("user.name", "additionalEventData", "UserName")
	}
	copyTo("aws.cloudtrail.event_category", "eventCategory")
	copyTo("cloud.region", "awsRegion")
	if addr := present(j, "sourceIPAddress"); addr != nil {
		b.set("source.address", b.copyValue(addr))
		if addr.Type() == fastjson.TypeString {
			if ip, err := netip.ParseAddr(string(addr.GetStringBytes())); err == nil && ip.Zone() == "" {
				b.setStr("source.ip", ip.String())
			}
		}
	}
	copyTo("user_agent.original", "userAgent")
	copyTo("aws.cloudtrail.error_code", "errorCode")
	copyTo("aws.cloudtrail.error_message", "errorMessage")

	flattened := a.NewObject()
	for _, f := range [...]struct{ raw, ecs string }{
		{"requestParameters", "request_parameters"},
		{"responseElements", "response_elements"},
		{"additionalEventData", "additional_eventdata"},
		{"serviceEventDetails", "service_event_details"},
	} {
		v := present(j, f.raw)
		if v == nil {
			continue
		}
		if f.raw == "additionalEventData" && movedUserName {
			if v = b.without(v, "UserName"); isEmpty(v) {
				continue
			}
		}
		s := JavaString(v)
		b.setStr("aws.cloudtrail."+f.ecs, s)
		if len(s) < flattenedLimit {
			flattened.Set(f.ecs, b.copyValue(v))
		}
	}
	if v := present(j, "insightDetails"); v != nil {
		flattened.Set("insight_details", b.copyValue(v))
	}
	b.set("aws.cloudtrail.flattened", flattened)

	copyTo("aws.cloudtrail.request_id", "requestID")
	copyTo("event.id", "eventID")
	copyTo("aws.cloudtrail.event_type", "eventType")
	copyTo("aws.cloudtrail.api_version", "apiVersion")
	if v := present(j, "managementEvent"); v != nil {
		b.setStr("aws.cloudtrail.management_event", javaValueOf(v))
	}
	copyTo("aws.cloudtrail.read_only", "readOnly")
	if res := present(j, "resources"); res != nil && res.Type() == fastjson.TypeArray {
		b.set("aws.cloudtrail.resources", b.resources(res))
	} else if res != nil {
		b.set("aws.cloudtrail.resources", b.copyValue(res)) // not a list: moved as it is
	}
	copyTo("aws.cloudtrail.recipient_account_id", "recipientAccountId")
	if b.doc.Get("cloud", "account", "id") == nil {
		copyTo("cloud.account.id", "recipientAccountId")
	}
	copyTo("aws.cloudtrail.shared_event_id", "sharedEventID")
	if b.doc.Get("aws", "cloudtrail", "shared_event_id") == nil {
		copyTo("aws.cloudtrail.shared_event_id", "sharedEventId")
	}
	copyTo("aws.cloudtrail.vpc_endpoint_id", "vpcEndpointId")
	copyTo("aws.cloudtrail.vpc_endpoint_account_id", "vpcEndpointAccountId")
	copyTo("aws.cloudtrail.addendum.reason", "addendum", "reason")
	copyTo("aws.cloudtrail.addendum.updated_fields", "addendum", "updatedFields")
	copyTo("aws.cloudtrail.addendum.original_request_id", "addendum", "originalRequestID")
	copyTo("aws.cloudtrail.addendum.original_event_id", "addendum", "originalEventID")

	fl := func(keys ...string) string { return str(flattened, keys...) }
	addRelatedUser(str(j, "requestParameters", "userName"))
	addRelatedUser(str(j, "requestParameters", "newUserName"))
	addRelatedUser(str(j, "responseElements", "user", "userId"))

	action := str(j, "eventName")
	if action == "ConsoleLogin" {
		aed := a.NewObject()
		n := 0
		yesNo := func(key, dst string) {
			if v := flattened.Get("additional_eventdata", key); v != nil {
				if v.Type() == fastjson.TypeString && string(v.GetStringBytes()) == "No" {
					aed.Set(dst, a.NewFalse())
				} else {
					aed.Set(dst, a.NewTrue())
				}
				n++
			}
		}
		yesNo("MobileVersion", "mobile_version")
		if v := flattened.Get("additional_eventdata", "LoginTo"); v != nil {
			aed.Set("login_to", v)
			n++
		}
		yesNo("MFAUsed", "mfa_used")
		if n > 0 {
			b.set("aws.cloudtrail.console_login.additional_eventdata", aed)
		}
	}

	// categorisation
	b.setStr("event.kind", "event")
	b.set("event.type", b.strArray([]string{"info"}))
	outcome := "success"
	if present(j, "errorCode") != nil || present(j, "errorMessage") != nil {
		outcome = "failure"
	}
	if action == "ConsoleLogin" {
		if s := fl("response_elements", "ConsoleLogin"); s != "" {
			outcome = strings.ToLower(s)
		}
	}
	b.setStr("event.outcome", outcome)
	if c, ok := categories[action]; ok && action != "" {
		b.set("event.category", b.strArray(c.cat))
		b.set("event.type", b.strArray(c.typ))
	}

	b.setStr("group.id", fl("response_elements", "group", "groupId"))
	b.setStr("user.target.id", fl("response_elements", "user", "userId"))
	b.setStr("user.changes.name", fl("request_parameters", "newUserName"))
	b.setStr("group.name", fl("request_parameters", "groupName"))
	b.setStr("user.target.name", fl("request_parameters", "userName"))

	tls := j.Get("tlsDetails")
	if str(tls, "tlsVersion") == "tlsVersion" {
		tls = nil // a placeholder CloudTrail wrote: the pipeline drops tlsDetails
	}
	if tls != nil {
		if tv := str(tls, "tlsVersion"); tv != "" {
			if proto, ver, ok := strings.Cut(tv, "v"); ok {
				b.setStr("tls.version_protocol", strings.ToLower(proto))
				b.setStr("tls.version", ver)
			} else {
				b.setStr("tls.version", tv) // no "v": kept whole
			}
		}
		copyTo("tls.cipher", "tlsDetails", "cipherSuite")
		copyTo("tls.client.server_name", "tlsDetails", "clientProvidedHostHeader")
		copyTo("aws.cloudtrail.tls_details.key_exchange", "tlsDetails", "keyExchange")
	}

	if email != "" {
		b.setStr("user.email", email)
	} else if name := str(b.doc, "user", "name"); strings.IndexByte(name, '@') > 0 {
		b.setStr("user.email", name)
	}
	addRelatedUser(str(b.doc, "user", "id"))
	addRelatedUser(str(b.doc, "user", "name"))
	addRelatedUser(str(b.doc, "user", "changes", "name"))
	addRelatedUser(str(b.doc, "aws", "cloudtrail", "user_identity", "on_behalf_of", "user_id"))
	if len(relatedUser) > 0 {
		b.set("related.user", b.strArray(relatedUser))
	}
	if ips := relatedIPs(j, str(b.doc, "source", "ip")); len(ips) > 0 {
		b.set("related.ip", b.strArray(ips))
	}
	if hosts := relatedHosts(j, b.doc); len(hosts) > 0 {
		b.set("related.hosts", b.strArray(hosts))
	}
	return b.doc
}

// awsServiceActor returns, from the record's userIdentity, the AWS service that made the call, or "" when a
// user did: the invokedBy of an AWSService identity, or for an assumed
// service-linked role (issuer arn:aws:iam::<account>:role/aws-service-role/<service>/<role>)
// its invokedBy or else the service in the role's path. invokedBy alone
// decides nothing: console sign-ins carry it too. The name is not copied
// (it lives as long as the event): the ECS view copies it into its arena and
// the user getters only compare it with "".
func awsServiceActor(ui *fastjson.Value) string {
	return serviceActor(strView(ui, "type"), strView(ui, "invokedBy"), func() string {
		return strView(ui, "sessionContext", "sessionIssuer", "arn")
	})
}

// serviceActorOf is awsServiceActor of the event's userIdentity, read
// field by field (its members need not be parsed), its type (as strView
// reads it) being typ: the user getters read the type anyway, and
// invokedBy is read only for the types serviceActor tests it for (most
// records are neither).
func (e *Event) serviceActorOf(typ string) string {
	switch typ {
	case "AWSService", "AssumedRole":
		return serviceActor(typ, e.strView("userIdentity", "invokedBy"), func() string {
			return strView(e.get("userIdentity", "sessionContext", "sessionIssuer", "arn"))
		})
	}
	return ""
}

// serviceActor is awsServiceActor of a userIdentity's type, invokedBy and
// (read only for an assumed role) session issuer's ARN. A userIdentity
// that drop-empty removes has no type it tests.
func serviceActor(typ, invokedBy string, issuerARN func() string) string {
	switch typ {
	case "AWSService":
		return invokedBy
	case "AssumedRole":
		const marker = ":role/aws-service-role/"
		issuer := issuerARN()
		i := strings.Index(issuer, marker)
		if i < 0 {
			return ""
		}
		if invokedBy != "" {
			return invokedBy
		}
		if svc, _, ok := strings.Cut(issuer[i+len(marker):], "/"); ok {
			return svc
		}
	}
	return ""
}

// userIdentityRenames are the userIdentity fields the pipeline moves under
// aws.cloudtrail.user_identity as they are (CloudTrail fields it dropped
// before integrations PR 20403).
var userIdentityRenames = [...]struct {
	ecs string
	raw []string
}{
	{"aws.cloudtrail.user_identity.invoked_by_delegate.account_id", []string{"userIdentity", "invokedByDelegate", "accountId"}},
	{"aws.cloudtrail.user_identity.credential_id", []string{"userIdentity", "credentialId"}},
	{"aws.cloudtrail.user_identity.identity_provider", []string{"userIdentity", "identityProvider"}},
	{"aws.cloudtrail.user_identity.in_scope_of.issuer_type", []string{"userIdentity", "inScopeOf", "issuerType"}},
	{"aws.cloudtrail.user_identity.in_scope_of.credentials_issued_to", []string{"userIdentity", "inScopeOf", "credentialsIssuedTo"}},
	{"aws.cloudtrail.user_identity.in_scope_of.source_arn", []string{"userIdentity", "inScopeOf", "sourceArn"}},
	{"aws.cloudtrail.user_identity.in_scope_of.source_account", []string{"userIdentity", "inScopeOf", "sourceAccount"}},
	{"aws.cloudtrail.user_identity.session_context.ec2_role_delivery", []string{"userIdentity", "sessionContext", "ec2RoleDelivery"}},
	{"aws.cloudtrail.user_identity.session_context.source_identity", []string{"userIdentity", "sessionContext", "sourceIdentity"}},
	{"aws.cloudtrail.user_identity.session_context.web_id_federation_data.federated_provider", []string{"userIdentity", "sessionContext", "webIdFederationData", "federatedProvider"}},
	{"aws.cloudtrail.user_identity.session_context.web_id_federation_data.attributes", []string{"userIdentity", "sessionContext", "webIdFederationData", "attributes"}},
	{"aws.cloudtrail.user_identity.session_context.assumed_root", []string{"userIdentity", "sessionContext", "assumedRoot"}},
	{"aws.cloudtrail.user_identity.session_context.sign_in_session_arn", []string{"userIdentity", "sessionContext", "signInSessionArn"}},
}

// relatedIPs is related.ip: source.ip, then the address in
// serviceEventDetails.sourceIpAddress when it is one.
func relatedIPs(j *fastjson.Value, sourceIP string) []string {
	var ips []string
	if sourceIP != "" {
		ips = append(ips, sourceIP)
	}
	if s := str(j, "serviceEventDetails", "sourceIpAddress"); s != "" && s != sourceIP {
		if _, err := netip.ParseAddr(s); err == nil {
			ips = append(ips, s)
		}
	}
	return ips
}

// relatedHosts is related.hosts: the TLS host header and a source address
// that is a host name (neither an AWS service endpoint, *.amazonaws.com, nor
// "AWS Internal"), the request's computerName, and every EC2 instance id the
// record names (instance ARNs in resources; instanceId, target, resourceId,
// instanceIds and instancesSet items of the request and the response).
func relatedHosts(j, doc *fastjson.Value) []string {
	var hosts []string
	add := func(h string) {
		if h != "" && !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	if h := str(doc, "tls", "client", "server_name"); !strings.HasSuffix(h, ".amazonaws.com") {
		add(h)
	}
	if addr := str(doc, "source", "address"); str(doc, "source", "ip") == "" && strings.Contains(addr, ".") &&
		!strings.Contains(addr, " ") && !strings.HasSuffix(addr, ".amazonaws.com") {
		add(addr)
	}
	add(str(j, "requestParameters", "computerName"))
	addID := func(s string) {
		if len(s) >= 10 && strings.HasPrefix(s, "i-") {
			add(s)
		}
	}
	addInstance := func(v *fastjson.Value) {
		if v != nil && v.Type() == fastjson.TypeString {
			addID(string(v.GetStringBytes()))
		}
	}
	each(j, "resources", func(r *fastjson.Value) {
		if arn := strAt(r, "ARN"); strings.Contains(arn, ":instance/") {
			addID(arn[strings.LastIndexByte(arn, '/')+1:])
		}
	})
	for _, container := range []string{"requestParameters", "responseElements"} {
		c := present(j, container)
		if c == nil || c.Type() != fastjson.TypeObject {
			continue
		}
		for _, k := range []string{"instanceId", "target", "resourceId"} {
			addInstance(c.Get(k))
		}
		for _, id := range listAt(c, "instanceIds") {
			addInstance(id)
		}
		each(c, "instancesSet.items", func(it *fastjson.Value) { addInstance(it.Get("instanceId")) })
	}
	return hosts
}

// sessionName is the session part of an STS ARN (an assumed role's or
// federated user's, in any partition): what follows its last slash, ok
// false for other ARNs.
func sessionName(arn string) (string, bool) {
	rest, ok := strings.CutPrefix(arn, "arn:")
	if !ok {
		return "", false
	}
	partition, rest, ok := strings.Cut(rest, ":")
	if !ok || partition == "" || strings.Trim(partition, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
		return "", false
	}
	if rest, ok = strings.CutPrefix(rest, "sts:"); !ok {
		return "", false
	}
	i := strings.LastIndexByte(rest, '/')
	if i < 0 {
		return "", false
	}
	return rest[i+1:], true
}

// javaValueOf is Java's String.valueOf of a JSON scalar as the json
// processor parsed it.
func javaValueOf(v *fastjson.Value) string {
	switch v.Type() {
	case fastjson.TypeString:
		return string(v.GetStringBytes())
	case fastjson.TypeTrue:
		return "true"
	case fastjson.TypeFalse:
		return "false"
	}
	return JavaString(v)
}

// resources de-duplicates the resources list on ARN, account and type with
// keys renamed, in the order the pipeline's HashMap yields them.
func (b *ecsBuilder) resources(res *fastjson.Value) *fastjson.Value {
	type entry struct {
		key string
		v   *fastjson.Value
	}
	var entries []entry
	index := map[string]int{}
	for _, r := range res.GetArray() {
		if r.Type() != fastjson.TypeObject {
			continue
		}
		o := b.a.NewObject()
		obj, _ := r.Object()
		obj.Visit(func(k []byte, c *fastjson.Value) {
			if isEmpty(c) {
				return
			}
			name := string(k)
			switch name {
			case "ARN":
				name = "arn"
			case "accountId":
				name = "account_id"
			}
			o.Set(name, b.copyValue(c))
		})
		key := str(o, "arn") + "_" + str(o, "account_id") + "_" + str(o, "type")
		if i, ok := index[key]; ok {
			entries[i].v = o
			continue
		}
		index[key] = len(entries)
		entries = append(entries, entry{key, o})
	}
	// iterate as a HashMap keyed by the de-duplication key would
	keyObj := b.a.NewObject()
	for _, e := range entries {
		keyObj.Set(e.key, b.a.NewTrue())
	}
	ko, _ := keyObj.Object()
	arr := b.a.NewArray()
	for i, kv := range hashMapOrder(ko) {
		arr.SetArrayItem(i, entries[index[kv.k]].v)
	}
	return arr
}

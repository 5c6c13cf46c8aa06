package event

import (
	"net/netip"
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
	cat []string
	typ []string // nil: event.type is removed
}

// categories is the ECS categorisation the integration applies per
// eventName (overwriting the default event.type ["info"]).
var categories = func() map[string]category {
	m := map[string]category{
		"AssumeRole":                         {[]string{"authentication"}, []string{"info"}},
		"ConsoleLogin":                       {[]string{"authentication"}, []string{"info"}},
		"CreateBucket":                       {[]string{"file"}, []string{"creation"}},
		"DeleteBucket":                       {[]string{"file"}, []string{"deletion"}},
		"CreateKeyPair":                      {[]string{"iam"}, []string{"admin", "creation"}},
		"SetDefaultPolicyVersion":            {[]string{"iam"}, []string{"admin", "change"}},
		"SetSecurityTokenServicePreferences": {[]string{"iam"}, []string{"admin", "change"}},
		"UpdateAccountPasswordPolicy":        {[]string{"iam"}, []string{"admin", "change"}},
		"UpdateRole":                         {[]string{"iam"}, []string{"admin", "change"}},
		"AttachRolePolicy":                   {[]string{"iam"}, []string{"change"}},
		"AuthorizeSecurityGroupIngress":      {[]string{"network"}, []string{"access"}},
		"PutObject":                          {[]string{"file"}, []string{"change"}},
		"SendCommand":                        {[]string{"process"}, nil},
	}
	for _, a := range []string{"AddUserToGroup", "AttachGroupPolicy", "DeleteGroupPolicy", "DetachGroupPolicy",
		"PutGroupPolicy", "RemoveUserFromGroup", "UpdateGroup"} {
		m[a] = category{[]string{"iam"}, []string{"group", "change"}}
	}
	for _, a := range []string{"GetGroup", "GetGroupPolicy", "ListAttachedGroupPolicies", "ListGroupPolicies", "ListGroups"} {
		m[a] = category{[]string{"iam"}, []string{"group", "info"}}
	}
	m["CreateGroup"] = category{[]string{"iam"}, []string{"group", "creation"}}
	m["DeleteGroup"] = category{[]string{"iam"}, []string{"group", "deletion"}}
	for _, a := range []string{"AttachUserPolicy", "ChangePassword", "CreateAccessKey", "CreateVirtualMFADevice",
		"DeactivateMFADevice", "DeleteAccessKey", "DeleteSSHPublicKey", "DeleteUserPermissionsBoundary",
		"DeleteUserPolicy", "DeleteVirtualMFADevice", "DetachUserPolicy", "EnableMFADevice",
		"PutUserPermissionsBoundary", "PutUserPolicy", "TagUser", "UntagUser", "UpdateAccessKey",
		"UpdateLoginProfile", "UpdateSSHPublicKey", "UpdateUser"} {
		m[a] = category{[]string{"iam"}, []string{"user", "change"}}
	}
	for _, a := range []string{"GetUser", "GetUserPolicy", "ListAttachedUserPolicies", "ListGroupsForUser",
		"ListUserPolicies", "ListUsers", "ListUserTags"} {
		m[a] = category{[]string{"iam"}, []string{"user", "info"}}
	}
	m["CreateUser"] = category{[]string{"iam"}, []string{"user", "creation"}}
	m["DeleteUser"] = category{[]string{"iam"}, []string{"user", "deletion"}}
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

// str returns the string at keys, or "" (also for non-strings).
func str(v *fastjson.Value, keys ...string) string {
	c := v.Get(keys...)
	if c == nil || c.Type() != fastjson.TypeString {
		return ""
	}
	return string(c.GetStringBytes())
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
	j := e.src

	if t, ok := isoTime(str(j, "eventTime")); ok {
		b.setStr("@timestamp", t)
	}
	b.setStr("ecs.version", "8.11.0")
	b.setStr("data_stream.dataset", Dataset)
	b.setStr("event.dataset", Dataset)
	b.setStr("event.module", "aws")
	b.setStr("cloud.provider", "aws")
	if src := str(j, "eventSource"); src != "" {
		if svc, _, ok := strings.Cut(src, "."); ok {
			b.setStr("cloud.service.name", svc)
		}
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
	addRelatedUser(str(j, "userIdentity", "userName"))
	copyTo("user.name", "userIdentity", "userName")
	copyTo("user.id", "userIdentity", "principalId")
	copyTo("aws.cloudtrail.user_identity.arn", "userIdentity", "arn")
	copyTo("cloud.account.id", "userIdentity", "accountId")
	copyTo("aws.cloudtrail.user_identity.access_key_id", "userIdentity", "accessKeyId")
	copyTo("aws.cloudtrail.user_identity.session_context.mfa_authenticated", "userIdentity", "sessionContext", "attributes", "mfaAuthenticated")
	if t, ok := isoTime(str(j, "userIdentity", "sessionContext", "attributes", "creationDate")); ok {
		b.setStr("aws.cloudtrail.user_identity.session_context.creation_date", t)
	}
	copyTo("aws.cloudtrail.user_identity.session_context.session_issuer.type", "userIdentity", "sessionContext", "sessionIssuer", "type")
	switch str(j, "userIdentity", "type") {
	case "AssumedRole", "FederatedUser":
		copyTo("user.name", "userIdentity", "sessionContext", "sessionIssuer", "userName")
	}
	copyTo("aws.cloudtrail.user_identity.session_context.session_issuer.principal_id", "userIdentity", "sessionContext", "sessionIssuer", "principalId")
	copyTo("aws.cloudtrail.user_identity.session_context.session_issuer.arn", "userIdentity", "sessionContext", "sessionIssuer", "arn")
	copyTo("aws.cloudtrail.user_identity.session_context.session_issuer.account_id", "userIdentity", "sessionContext", "sessionIssuer", "accountId")
	copyTo("aws.cloudtrail.user_identity.invoked_by", "userIdentity", "invokedBy")
	copyTo("aws.cloudtrail.session_credential_from_console", "sessionCredentialFromConsole")
	copyTo("event.provider", "eventSource")
	copyTo("event.action", "eventName")
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
	copyTo("aws.cloudtrail.management_event", "managementEvent")
	copyTo("aws.cloudtrail.read_only", "readOnly")
	if res := present(j, "resources"); res != nil && res.Type() == fastjson.TypeArray {
		b.set("aws.cloudtrail.resources", b.resources(res))
	}
	copyTo("aws.cloudtrail.recipient_account_id", "recipientAccountId")
	if b.doc.Get("cloud", "account", "id") == nil {
		copyTo("cloud.account.id", "recipientAccountId")
	}
	copyTo("aws.cloudtrail.vpc_endpoint_id", "vpcEndpointId")

	fl := func(keys ...string) string { return str(flattened, keys...) }
	addRelatedUser(fl("request_parameters", "userName"))
	addRelatedUser(fl("request_parameters", "newUserName"))

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
		if c.typ == nil {
			b.doc.Get("event").Del("type")
		} else {
			b.set("event.type", b.strArray(c.typ))
		}
	}

	b.setStr("group.id", fl("response_elements", "group", "groupId"))
	b.setStr("user.target.id", fl("response_elements", "user", "userId"))
	b.setStr("user.changes.name", fl("request_parameters", "newUserName"))
	b.setStr("group.name", fl("request_parameters", "groupName"))
	b.setStr("user.target.name", fl("request_parameters", "userName"))

	if tv := str(j, "tlsDetails", "tlsVersion"); tv != "" {
		if proto, ver, ok := strings.Cut(tv, "v"); ok {
			b.setStr("tls.version_protocol", strings.ToLower(proto))
			b.setStr("tls.version", ver)
		}
	}
	copyTo("tls.cipher", "tlsDetails", "cipherSuite")
	copyTo("tls.client.server_name", "tlsDetails", "clientProvidedHostHeader")

	if name := str(b.doc, "user", "name"); strings.Contains(name, "@") {
		b.setStr("user.email", name)
	} else if str(j, "userIdentity", "type") == "AssumedRole" {
		arn := str(j, "userIdentity", "arn")
		if i := strings.LastIndexByte(arn, '/'); i >= 0 && strings.Contains(arn[i+1:], "@") {
			b.setStr("user.email", arn[i+1:])
		}
	}
	if len(relatedUser) > 0 {
		b.set("related.user", b.strArray(relatedUser))
	}
	return b.doc
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

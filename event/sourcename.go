package event

// sourceAndName are the fields whose values on a raw CloudTrail record
// (KindCloudTrail) whose eventSource and eventName are non-empty strings
// follow from Provider and Action alone: the two themselves in both
// vocabularies, the dataset and kind the pipeline sets on every record, and
// the category and type it looks up by action.
var sourceAndName = map[string]bool{
	"eventSource": true, "eventName": true, "event.provider": true, "event.action": true,
	"event.dataset": true, "data_stream.dataset": true, "event.kind": true,
	"event.category": true, "event.type": true,
}

// BySourceAndName reports whether a field's values on a raw CloudTrail
// record whose Provider and Action are not empty are a function of those
// two: on every such record with the same two, the field's getter returns
// the same values. The engine decides conditions on such fields once per
// source and name.
func BySourceAndName(name string) bool { return sourceAndName[name] }

// identityType are the fields whose values on a raw CloudTrail record
// follow from the string userIdentity.type holds, when it holds one that is
// not empty: the field itself and its ECS name.
var identityType = map[string]bool{"userIdentity.type": true, "aws.cloudtrail.user_identity.type": true}

// ByIdentityType reports whether a field's values on a raw CloudTrail
// record are a function of the one non-empty string its userIdentity.type
// holds (read with the getter of "userIdentity.type"), as BySourceAndName
// does for the source and name.
func ByIdentityType(name string) bool { return identityType[name] }

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

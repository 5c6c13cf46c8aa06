package serve

import (
	"cmp"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/trailhound/trailhound/alert"
)

// Format turns an alert into the document a sink sends.
type Format func(a alert.Alert) ([]byte, error)

// ParseFormat is the format named in a sink's config: "" or "alert"
// (nil: the sink's own rendering of trailhound's alert JSON, as hunt
// writes it) or "ocsf" (an OCSF Detection Finding).
func ParseFormat(name string) (Format, error) {
	switch strings.ToLower(name) {
	case "", "alert", "trailhound":
		return nil, nil
	case "ocsf":
		return OCSF, nil
	}
	return nil, fmt.Errorf("format %q: want alert or ocsf", name)
}

// ocsfSeverity maps a rule's severity to OCSF severity_id.
var ocsfSeverity = map[string]int{"informational": 1, "info": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}

// OCSF is the alert as an OCSF 1.1 Detection Finding (class_uid 2004):
// finding_info.uid is the alert id, finding_info.analytic the rule,
// attacks its ATT&CK mapping, evidences the actor, API call, source
// endpoint and resources of the record, start_time and end_time the span
// of the events (threshold, suppression or sequence), times in ms.
func OCSF(a alert.Alert) ([]byte, error) {
	sev := strings.ToLower(a.Rule.Severity)
	sid, ok := ocsfSeverity[sev]
	if !ok {
		sid, sev = 0, "Unknown"
	}
	start, end := a.Time, a.Time
	switch {
	case a.Threshold != nil:
		start, end = a.Threshold.From, a.Threshold.To
	case a.Suppression != nil:
		start, end = a.Suppression.Start, a.Suppression.End
	}
	ms := func(t time.Time) int64 { return t.UnixMilli() }
	var rec struct {
		EventSource     string `json:"eventSource"`
		EventName       string `json:"eventName"`
		AWSRegion       string `json:"awsRegion"`
		SourceIPAddress string `json:"sourceIPAddress"`
		UserAgent       string `json:"userAgent"`
		Recipient       string `json:"recipientAccountId"`
		ErrorCode       string `json:"errorCode"`
		UserIdentity    struct {
			Type, Arn, AccountID, PrincipalID, UserName string
		} `json:"userIdentity"`
		Resources []struct {
			ARN, Type string
		} `json:"resources"`
	}
	json.Unmarshal(a.Record, &rec) // not a CloudTrail record (ECS input): the alert's own fields stand in
	who, src := alert.ActorAndSource(a)
	evidence := map[string]any{}
	user := map[string]any{}
	if who != "" {
		user["uid"] = who
	}
	if rec.UserIdentity.UserName != "" {
		user["name"] = rec.UserIdentity.UserName
	}
	if rec.UserIdentity.Type != "" {
		user["type"] = rec.UserIdentity.Type
	}
	if len(user) > 0 {
		evidence["actor"] = map[string]any{"user": user}
	}
	if op, svc := cmp.Or(rec.EventName, a.Event.Action), cmp.Or(rec.EventSource, a.Event.Provider); op != "" || svc != "" {
		api := map[string]any{"operation": op, "service": map[string]any{"name": svc}}
		if rec.ErrorCode != "" {
			api["response"] = map[string]any{"error": rec.ErrorCode}
		}
		evidence["api"] = api
	}
	if src != "" {
		ep := map[string]any{"ip": src}
		if rec.UserAgent != "" {
			ep = map[string]any{"ip": src, "agent_list": []any{map[string]any{"name": rec.UserAgent}}}
		}
		evidence["src_endpoint"] = ep
	}
	var resources []any
	for _, r := range rec.Resources {
		resources = append(resources, map[string]any{"uid": r.ARN, "type": r.Type})
	}
	if len(resources) > 0 {
		evidence["resources"] = resources
	}
	var attacks []any
	for _, th := range a.Rule.Threat {
		tactic := map[string]any{"uid": th.Tactic.ID, "name": th.Tactic.Name}
		if len(th.Techniques) == 0 {
			attacks = append(attacks, map[string]any{"tactic": tactic, "version": "v15"})
		}
		for _, tq := range th.Techniques {
			at := map[string]any{"tactic": tactic, "technique": map[string]any{"uid": tq.ID, "name": tq.Name}, "version": "v15"}
			if len(tq.Subtechniques) > 0 {
				at["sub_technique"] = map[string]any{"uid": tq.Subtechniques[0].ID, "name": tq.Subtechniques[0].Name}
			}
			attacks = append(attacks, at)
		}
	}
	info := map[string]any{
		"uid": a.ID, "title": a.Rule.Name, "created_time": ms(a.Time), "first_seen_time": ms(start), "last_seen_time": ms(end),
		"analytic": map[string]any{"uid": a.Rule.ID, "name": a.Rule.Name, "type_id": 1, "type": "Rule", "category": a.Rule.Format},
		"types":    []string{a.Rule.Type},
	}
	if len(attacks) > 0 {
		info["attacks"] = attacks
	}
	doc := map[string]any{
		"class_uid": 2004, "class_name": "Detection Finding", "category_uid": 2, "category_name": "Findings",
		"activity_id": 1, "activity_name": "Create", "type_uid": 200401, "type_name": "Detection Finding: Create",
		"time": ms(a.Time), "start_time": ms(start), "end_time": ms(end),
		"severity_id": sid, "severity": cases(sev), "status_id": 1, "status": "New",
		"message":      cmp.Or(a.Title, a.Rule.Name),
		"finding_info": info,
		"metadata":     map[string]any{"version": "1.1.0", "product": map[string]any{"name": "trailhound", "vendor_name": "trailhound"}},
		"cloud":        map[string]any{"provider": "AWS", "region": rec.AWSRegion, "account": map[string]any{"uid": cmp.Or(rec.Recipient, rec.UserIdentity.AccountID)}},
	}
	if len(evidence) > 0 {
		doc["evidences"] = []any{evidence}
	}
	if len(a.Record) > 0 {
		doc["raw_data"] = string(a.Record)
	}
	return json.Marshal(doc)
}

// cases is s with its first letter upper-case (OCSF's severity captions).
func cases(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

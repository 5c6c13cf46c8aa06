package pyrule

import (
	"testing"
)

// A module constant of a str subclass with its own __eq__ compares as its
// class says: the prefilter must not drop the events it matches.
func TestPrefilterStrSubclass(t *testing.T) {
	needPython(t)
	dir := t.TempDir()
	for i, src := range []string{`
class CI(str):
    def __eq__(self, other):
        return isinstance(other, str) and other.lower() == self.lower()
    __hash__ = str.__hash__
ROOT = CI("createaccesskey")
def rule(event):
    return event.get("eventName") == ROOT`, `
class CI(str):
    def __eq__(self, other):
        return isinstance(other, str) and other.lower() == self.lower()
    __hash__ = str.__hash__
NAMES = (CI("createaccesskey"), "b")
def rule(event):
    return event.get("eventName") in NAMES`} {
		base := string(rune('a' + i))
		yml := "AnalysisType: rule\nFilename: " + base + ".py\nRuleID: S." + base + "\nDisplayName: " + base + "\nEnabled: true\nLogTypes: [AWS.CloudTrail]\nSeverity: Low\n"
		writeFiles(t, dir, map[string]string{base + ".yml": yml, base + ".py": src})
	}
	rules, _ := load(t, dir, Options{Workers: 1})
	got := map[string]int{}
	for _, a := range huntLines(t, rules, rec("CreateAccessKey", 0, "")) {
		got[a.Rule.ID]++
	}
	for _, id := range []string{"S.a", "S.b"} {
		if got[id] != 1 {
			t.Errorf("%s: %d alerts, want 1 (Python matches the record)", id, got[id])
		}
	}
}

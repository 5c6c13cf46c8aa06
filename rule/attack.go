package rule

import "strings"

// attackNames maps MITRE ATT&CK Enterprise tactic, technique and
// sub-technique ids to their names (sub-techniques by their own name, as
// Elastic's rules give them: T1078.004 is "Cloud Accounts"). It covers the
// techniques of the public Elastic, Sigma and Panther CloudTrail rules and
// the other cloud-relevant ones.
var attackNames = map[string]string{
	// tactics
	"TA0043": "Reconnaissance", "TA0042": "Resource Development", "TA0001": "Initial Access", "TA0002": "Execution",
	"TA0003": "Persistence", "TA0004": "Privilege Escalation", "TA0005": "Defense Evasion", "TA0006": "Credential Access",
	"TA0007": "Discovery", "TA0008": "Lateral Movement", "TA0009": "Collection", "TA0011": "Command and Control",
	"TA0010": "Exfiltration", "TA0040": "Impact",

	// techniques and sub-techniques
	"T1003": "OS Credential Dumping",
	"T1005": "Data from Local System",
	"T1016": "System Network Configuration Discovery",
	"T1020": "Automated Exfiltration",
	"T1021": "Remote Services", "T1021.004": "SSH", "T1021.005": "VNC", "T1021.007": "Cloud Services", "T1021.008": "Direct Cloud VM Connections",
	"T1033": "System Owner/User Discovery",
	"T1040": "Network Sniffing",
	"T1041": "Exfiltration Over C2 Channel",
	"T1046": "Network Service Discovery",
	"T1048": "Exfiltration Over Alternative Protocol",
	"T1049": "System Network Connections Discovery",
	"T1059": "Command and Scripting Interpreter", "T1059.001": "PowerShell", "T1059.003": "Windows Command Shell",
	"T1059.004": "Unix Shell", "T1059.006": "Python", "T1059.009": "Cloud API",
	"T1069": "Permission Groups Discovery", "T1069.003": "Cloud Groups",
	"T1070": "Indicator Removal", "T1070.004": "File Deletion",
	"T1071": "Application Layer Protocol",
	"T1074": "Data Staged", "T1074.002": "Remote Data Staging",
	"T1078": "Valid Accounts", "T1078.001": "Default Accounts", "T1078.002": "Domain Accounts", "T1078.003": "Local Accounts",
	"T1078.004": "Cloud Accounts",
	"T1082":     "System Information Discovery",
	"T1087":     "Account Discovery", "T1087.004": "Cloud Account",
	"T1090": "Proxy", "T1090.003": "Multi-hop Proxy",
	"T1098": "Account Manipulation", "T1098.001": "Additional Cloud Credentials", "T1098.003": "Additional Cloud Roles",
	"T1098.004": "SSH Authorized Keys", "T1098.005": "Device Registration", "T1098.006": "Additional Container Cluster Roles",
	"T1102": "Web Service", "T1102.003": "One-Way Communication",
	"T1105": "Ingress Tool Transfer",
	"T1106": "Native API",
	"T1108": "Redundant Access",
	"T1110": "Brute Force", "T1110.001": "Password Guessing", "T1110.003": "Password Spraying", "T1110.004": "Credential Stuffing",
	"T1114": "Email Collection", "T1114.003": "Email Forwarding Rule",
	"T1119": "Automated Collection",
	"T1133": "External Remote Services",
	"T1136": "Create Account", "T1136.003": "Cloud Account",
	"T1140": "Deobfuscate/Decode Files or Information",
	"T1190": "Exploit Public-Facing Application",
	"T1195": "Supply Chain Compromise", "T1195.001": "Compromise Software Dependencies and Development Tools",
	"T1195.002": "Compromise Software Supply Chain",
	"T1199":     "Trusted Relationship",
	"T1201":     "Password Policy Discovery",
	"T1203":     "Exploitation for Client Execution",
	"T1204":     "User Execution", "T1204.003": "Malicious Image",
	"T1213": "Data from Information Repositories", "T1213.003": "Code Repositories", "T1213.006": "Databases",
	"T1484": "Domain or Tenant Policy Modification", "T1484.002": "Trust Modification",
	"T1485": "Data Destruction", "T1485.001": "Lifecycle-Triggered Deletion",
	"T1486": "Data Encrypted for Impact",
	"T1489": "Service Stop",
	"T1490": "Inhibit System Recovery",
	"T1491": "Defacement", "T1491.002": "External Defacement",
	"T1496": "Resource Hijacking", "T1496.001": "Compute Hijacking", "T1496.002": "Bandwidth Hijacking", "T1496.003": "SMS Pumping",
	"T1496.004": "Cloud Service Hijacking",
	"T1498":     "Network Denial of Service",
	"T1499":     "Endpoint Denial of Service",
	"T1505":     "Server Software Component",
	"T1518":     "Software Discovery", "T1518.001": "Security Software Discovery",
	"T1525": "Implant Internal Image",
	"T1526": "Cloud Service Discovery",
	"T1528": "Steal Application Access Token",
	"T1530": "Data from Cloud Storage",
	"T1531": "Account Access Removal",
	"T1534": "Internal Spearphishing",
	"T1535": "Unused/Unsupported Cloud Regions",
	"T1537": "Transfer Data to Cloud Account",
	"T1538": "Cloud Service Dashboard",
	"T1539": "Steal Web Session Cookie",
	"T1543": "Create or Modify System Process",
	"T1546": "Event Triggered Execution",
	"T1548": "Abuse Elevation Control Mechanism", "T1548.005": "Temporary Elevated Cloud Access",
	"T1550": "Use Alternate Authentication Material", "T1550.001": "Application Access Token", "T1550.004": "Web Session Cookie",
	"T1552": "Unsecured Credentials", "T1552.001": "Credentials In Files", "T1552.004": "Private Keys",
	"T1552.005": "Cloud Instance Metadata API", "T1552.007": "Container API",
	"T1555": "Credentials from Password Stores", "T1555.006": "Cloud Secrets Management Stores",
	"T1556": "Modify Authentication Process", "T1556.006": "Multi-Factor Authentication", "T1556.007": "Hybrid Identity",
	"T1556.009": "Conditional Access Policies",
	"T1557":     "Adversary-in-the-Middle",
	"T1562":     "Impair Defenses", "T1562.001": "Disable or Modify Tools", "T1562.003": "Impair Command History Logging",
	"T1562.004": "Disable or Modify System Firewall", "T1562.006": "Indicator Blocking",
	"T1562.007": "Disable or Modify Cloud Firewall", "T1562.008": "Disable or Modify Cloud Logs",
	"T1563": "Remote Service Session Hijacking",
	"T1565": "Data Manipulation", "T1565.001": "Stored Data Manipulation", "T1565.002": "Transmitted Data Manipulation",
	"T1565.003": "Runtime Data Manipulation",
	"T1566":     "Phishing", "T1566.001": "Spearphishing Attachment", "T1566.002": "Spearphishing Link",
	"T1566.003": "Spearphishing via Service",
	"T1567":     "Exfiltration Over Web Service", "T1567.002": "Exfiltration to Cloud Storage",
	"T1578": "Modify Cloud Compute Infrastructure", "T1578.001": "Create Snapshot", "T1578.002": "Create Cloud Instance",
	"T1578.003": "Delete Cloud Instance", "T1578.004": "Revert Cloud Instance", "T1578.005": "Modify Cloud Compute Configurations",
	"T1580": "Cloud Infrastructure Discovery",
	"T1583": "Acquire Infrastructure", "T1583.001": "Domains", "T1583.006": "Web Services", "T1583.007": "Serverless",
	"T1584": "Compromise Infrastructure", "T1584.001": "Domains",
	"T1585": "Establish Accounts", "T1585.003": "Cloud Accounts",
	"T1586": "Compromise Accounts", "T1586.003": "Cloud Accounts",
	"T1587": "Develop Capabilities",
	"T1588": "Obtain Capabilities",
	"T1589": "Gather Victim Identity Information",
	"T1590": "Gather Victim Network Information",
	"T1592": "Gather Victim Host Information",
	"T1595": "Active Scanning", "T1595.001": "Scanning IP Blocks", "T1595.002": "Vulnerability Scanning",
	"T1595.003": "Wordlist Scanning",
	"T1599":     "Network Boundary Bridging",
	"T1606":     "Forge Web Credentials", "T1606.001": "Web Cookies", "T1606.002": "SAML Tokens",
	"T1608": "Stage Capabilities", "T1608.001": "Upload Malware", "T1608.003": "Install Digital Certificate",
	"T1609": "Container Administration Command",
	"T1610": "Deploy Container",
	"T1611": "Escape to Host",
	"T1613": "Container and Resource Discovery",
	"T1619": "Cloud Storage Object Discovery",
	"T1621": "Multi-Factor Authentication Request Generation",
	"T1648": "Serverless Execution",
	"T1649": "Steal or Forge Authentication Certificates",
	"T1651": "Cloud Administration Command",
	"T1654": "Log Enumeration",
	"T1656": "Impersonation",
	"T1657": "Financial Theft",
	"T1666": "Modify Cloud Resource Hierarchy",
}

// AttackName returns the name of a MITRE ATT&CK tactic, technique or
// sub-technique id ("TA0005", "T1078", "T1078.004"), or "" when the id is
// not in trailhound's table.
func AttackName(id string) string {
	return attackNames[strings.ToUpper(strings.TrimSpace(id))]
}

// FillAttackNames names every tactic, technique and sub-technique of ts
// that has an id but no name.
func FillAttackNames(ts []Threat) {
	fill := func(r *Ref) {
		if r.Name == "" {
			r.Name = AttackName(r.ID)
		}
	}
	for i := range ts {
		fill(&ts[i].Tactic)
		for j := range ts[i].Techniques {
			t := &ts[i].Techniques[j]
			fill(&t.Ref)
			for k := range t.Subtechniques {
				fill(&t.Subtechniques[k])
			}
		}
	}
}

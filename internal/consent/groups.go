package consent

// Group is a few purposes a patient decides about together, with a plain
// explanation of what they have in common. The consent page shows the
// purposes in these groups so that nineteen rows read as five questions.
type Group struct {
	Key         string
	Title       string
	Explanation string
	Purposes    []PurposeCode
}

// groups is every purpose in exactly one group, in display order
// (TestEveryPurposeIsInExactlyOneGroup holds it to that).
var groups = []Group{
	{"service", "Running the service",
		"What the service needs to work for you and stay safe. Providing and maintaining the service is what you signed up for; the other uses here need your consent.",
		[]PurposeCode{ProvidingService, MaintainingService, FraudAbuseDetection, BAContractWork}},
	{"care", "Quality and safety of care",
		"Uses that help clinics and professionals care better for you and for others: reviewing care, spotting safety problems, planning treatment and training.",
		[]PurposeCode{CareCoordination, QualityAssessment, PatientSafety, Protocols, ClinicalGuidelines, TrainingCredentialing}},
	{"research", "Research, statistics and publications",
		"Uses that build medical knowledge. Your name is not published; researchers work under approved projects.",
		[]PurposeCode{ScientificResearch, RegistriesStudiesTrials, ScientificEvidence, StatisticsPerformance, Publications}},
	{"products", "Improving and developing products",
		"Uses that make this service and future products better.",
		[]PurposeCode{ProductImprovement, NewProducts}},
	{"contact", "Contacting you",
		"Whether we may send you text messages and tell you about products and services.",
		[]PurposeCode{SMS, Marketing}},
}

// Groups returns the purpose groups in display order.
func Groups() []Group {
	out := make([]Group, len(groups))
	for i, g := range groups {
		g.Purposes = append([]PurposeCode(nil), g.Purposes...)
		out[i] = g
	}
	return out
}

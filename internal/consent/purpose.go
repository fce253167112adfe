package consent

// PurposeCode is the stable code of a purpose of use. Codes go into the
// ledger, the audit log and the API; they never change meaning. A new
// purpose gets a new code.
type PurposeCode string

// The purposes Custodia knows. Service and Maintenance are what the patient
// signed up for; every other purpose goes beyond it and needs the patient's
// express consent.
const (
	ProvidingService        PurposeCode = "service"
	MaintainingService      PurposeCode = "maintenance"
	ProductImprovement      PurposeCode = "product_improvement"
	NewProducts             PurposeCode = "new_products"
	QualityAssessment       PurposeCode = "quality_assessment"
	RegistriesStudiesTrials PurposeCode = "registries_studies_trials"
	ClinicalGuidelines      PurposeCode = "clinical_guidelines"
	ScientificResearch      PurposeCode = "scientific_research"
	ScientificEvidence      PurposeCode = "scientific_evidence"
	PatientSafety           PurposeCode = "patient_safety"
	Protocols               PurposeCode = "protocols"
	CareCoordination        PurposeCode = "care_coordination"
	TrainingCredentialing   PurposeCode = "training_credentialing"
	Publications            PurposeCode = "publications"
	FraudAbuseDetection     PurposeCode = "fraud_abuse_detection"
	StatisticsPerformance   PurposeCode = "statistics_performance"
	BAContractWork          PurposeCode = "ba_contract_work"
	Marketing               PurposeCode = "marketing"
	SMS                     PurposeCode = "sms"
)

// DataCategory is the kind of information a use touches. Information about a
// patient's impairments is singled out: using it needs express consent for
// every purpose, even for providing and maintaining the service.
type DataCategory string

// The data categories.
const (
	General    DataCategory = "general"
	Impairment DataCategory = "impairment"
)

// Categories lists the data categories in display order.
var Categories = []DataCategory{General, Impairment}

// Valid reports whether c is a known category.
func (c DataCategory) Valid() bool { return c == General || c == Impairment }

// Purpose is a purpose of use in plain words, as the patient sees it.
type Purpose struct {
	Code        PurposeCode
	Title       string
	Description string
	// Express is true when using general data for this purpose needs the
	// patient's express consent. Impairment data always does.
	Express bool
}

// NeedsExpressConsent reports whether using data of category c for p needs
// the patient's express consent: everything except providing and
// maintaining the service does, and impairment data always does.
func (p Purpose) NeedsExpressConsent(c DataCategory) bool {
	return p.Express || c == Impairment
}

// purposes is the table of purposes in display order. The wording is what
// patients read: short, concrete, no jargon.
var purposes = []Purpose{
	{ProvidingService, "Providing the service",
		"We use your information to run the service you signed up for: keeping your records, sharing them with the clinicians you choose and showing you your progress.", false},
	{MaintainingService, "Keeping the service running",
		"We use your information to fix faults, make backups, keep the service secure and answer your support requests.", false},
	{ProductImprovement, "Improving our products",
		"We study how the service is used, with your information, to make it work better.", true},
	{NewProducts, "Developing new products",
		"We use your information to design and test new products and features.", true},
	{QualityAssessment, "Checking the quality of care",
		"Your clinic reviews care given with the service, using your information, to find where it can be better.", true},
	{RegistriesStudiesTrials, "Registries, studies and clinical trials",
		"Your information may be added to medical registries, or used to find out whether you could take part in a study or a clinical trial.", true},
	{ClinicalGuidelines, "Writing clinical guidelines",
		"Your information may help experts write guidance on how to treat patients like you.", true},
	{ScientificResearch, "Scientific research",
		"Researchers may use your information in approved scientific research projects.", true},
	{ScientificEvidence, "Building scientific evidence",
		"Your information may be combined with other patients' to show whether treatments work.", true},
	{PatientSafety, "Patient safety",
		"Your information may be used to detect and study problems with treatments, devices or medicines that could harm patients.", true},
	{Protocols, "Developing care protocols",
		"Your information may help clinics develop step-by-step plans for treatment.", true},
	{CareCoordination, "Coordinating care",
		"Your information may be used to organise care between clinics and professionals beyond the ones you chose.", true},
	{TrainingCredentialing, "Training and accrediting professionals",
		"Your information may be used to train clinicians and students and to check their qualifications.", true},
	{Publications, "Publications",
		"Information about your case may appear, without your name, in articles, talks or teaching material.", true},
	{FraudAbuseDetection, "Detecting fraud and abuse",
		"Your information may be checked to find fraud or misuse of the service.", true},
	{StatisticsPerformance, "Statistics and performance reports",
		"Your information may be counted in statistics and in reports on how well clinics and the service perform.", true},
	{BAContractWork, "Work for our partners under contract",
		"Companies working for us under a business associate agreement may use your information to do that work.", true},
	{Marketing, "Marketing",
		"We may use your information to tell you about products and services.", true},
	{SMS, "Text messages",
		"We may send you text messages, for example reminders, to the phone number you gave.", true},
}

// Purposes returns every purpose in display order.
func Purposes() []Purpose { return append([]Purpose(nil), purposes...) }

// Lookup returns the purpose with the given code.
func Lookup(code PurposeCode) (Purpose, bool) {
	for _, p := range purposes {
		if p.Code == code {
			return p, true
		}
	}
	return Purpose{}, false
}

// defaultText is the first version of the consent text for p, seeded by
// Seed. Later versions are published by a privacy officer.
func defaultText(p Purpose) string {
	return "I agree that my information may be used for this purpose: " + p.Title + ". " + p.Description +
		" This includes information about my impairments only where I agree to that separately." +
		" I can withdraw my consent at any time; withdrawing stops future use but does not undo use made before."
}

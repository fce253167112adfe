package outreach

// BeforeEach runs fn before each recipient's consent check, so a test can
// withdraw consent just before a patient's turn.
func BeforeEach(s *Service, fn func(patientID string)) { s.beforeEach = fn }

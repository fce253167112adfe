package rehab

// PreparedStatements counts the prepared inserts the service keeps.
func (s *Service) PreparedStatements() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, set := range s.stmts {
		for _, st := range set {
			if st != nil {
				n++
			}
		}
	}
	return n
}

// SplitRows exposes splitRows.
var SplitRows = splitRows

// InsertSizes exposes insertSizes.
var InsertSizes = insertSizes[:]

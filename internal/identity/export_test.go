package identity

import "context"

// UserIDByEmail finds an account by its address through the blind index,
// for tests that need the id of a user they signed up.
func UserIDByEmail(ctx context.Context, s *Service, email string) (string, error) {
	u, _, err := s.userByEmail(ctx, email)
	return u.ID, err
}

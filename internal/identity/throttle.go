package identity

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/custodia-health/custodia/internal/keys"
)

// Throttling: every failed sign-in (or second-factor code) adds one to three
// counters: the account's, the account's from this client address (the
// pair), and the address's. After a few free tries each further attempt must
// wait twice as long as the last, up to a cap:
//
//   - The pair slows one address guessing at one account, early (5 free).
//   - The account slows guessing spread over many addresses (10 free) and
//     locks outright after LockoutFailures in a row (NIST SP 800-63B-4
//     §3.2.2) until the password is reset by email or an admin unlocks it.
//   - The address (20 free in an hour) slows an address spraying guesses
//     over many accounts, but only for the accounts it has itself failed at
//     within the hour: many people share one address behind a clinic's NAT,
//     and one of them guessing must not refuse a colleague's correct
//     password. A sprayer thus gets one guess per account before the
//     address's wait applies to it.
//
// The account key is a keyed hash of the email, so an address without an account
// is throttled and locked exactly like one with.
const (
	LockoutFailures   = 100
	freeAccountTries  = 10
	freePairTries     = 5
	freeAddressTries  = 20
	maxThrottleWait   = 10 * time.Minute
	addressForgetting = time.Hour // an address's or pair's count resets after this long without failures
)

// The counters' keys are keyed hashes (the account key's blind index), so
// the table names no address and no client IP to someone who can read the
// database: a plain hash of an email can be confirmed by guessing it.
func (s *Service) accountKey(email string) string {
	return "acct:" + hex.EncodeToString(s.emailIndex(email))
}

func (s *Service) addressKey(addr string) string { return "addr:" + s.addressIndex(addr) }

func (s *Service) addressIndex(addr string) string {
	return hex.EncodeToString(keys.BlindIndex(s.acct, throttleAddressField, addr))
}

// throttleAddressField separates the client address's blind index from the
// email's.
const throttleAddressField = "auth_failures.address"

// pairKey counts an account's failures from one address. It starts with the
// account's index, so clearing an account's counts can find its pairs.
func (s *Service) pairKey(email, addr string) string {
	return s.pairPrefix(email) + s.addressIndex(addr)
}
func (s *Service) pairPrefix(email string) string {
	return "pair:" + hex.EncodeToString(s.emailIndex(email)) + ":"
}

type failureCount struct {
	n    int
	last time.Time
}

func (s *Service) failures(ctx context.Context, key string) (failureCount, error) {
	var f failureCount
	var last int64
	err := s.db.Read.QueryRowContext(ctx, `SELECT failures, last_at FROM auth_failures WHERE key = $1`, key).Scan(&f.n, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return f, nil
	}
	if err != nil {
		return f, fmt.Errorf("read sign-in failures: %w", err)
	}
	f.last = time.UnixMicro(last)
	return f, nil
}

// backoff is how long after the last failure the next attempt must wait.
func backoff(n, free int) time.Duration {
	if n < free {
		return 0
	}
	shift := n - free
	if shift > 20 {
		return maxThrottleWait
	}
	return min(time.Second<<shift, maxThrottleWait)
}

// checkThrottle returns a KindLocked or KindThrottled error when the
// attempt must not be evaluated at all.
func (s *Service) checkThrottle(ctx context.Context, email, addr string) error {
	now := s.now()
	acct, err := s.failures(ctx, s.accountKey(email))
	if err != nil {
		return err
	}
	if acct.n >= LockoutFailures {
		return &Error{Kind: KindLocked, Code: "account_locked",
			Message: "Sign-in to this account is locked after too many failed attempts. Use “Forgot password” to reset the password by email, or ask your workspace admin to unlock it."}
	}
	wait := acct.last.Add(backoff(acct.n, freeAccountTries)).Sub(now)
	if addr != "" {
		pair, err := s.failures(ctx, s.pairKey(email, addr))
		if err != nil {
			return err
		}
		if pair.n > 0 && now.Sub(pair.last) < addressForgetting {
			wait = max(wait, pair.last.Add(backoff(pair.n, freePairTries)).Sub(now))
			// Only an address that has failed at this account is held to
			// the address's count.
			ad, err := s.failures(ctx, s.addressKey(addr))
			if err != nil {
				return err
			}
			if now.Sub(ad.last) < addressForgetting {
				wait = max(wait, ad.last.Add(backoff(ad.n, freeAddressTries)).Sub(now))
			}
		}
	}
	if wait > 0 {
		return &Error{Kind: KindThrottled, Code: "throttled", RetryAfter: wait.Round(time.Second) + time.Second,
			Message: "Too many failed attempts. Wait a little before trying again."}
	}
	return nil
}

// noteFailure counts a failed attempt against the account, the pair and the
// address.
func (s *Service) noteFailure(ctx context.Context, email, addr string) error {
	now := micros(s.now())
	keys := []string{s.accountKey(email)}
	if addr != "" {
		keys = append(keys, s.pairKey(email, addr), s.addressKey(addr))
	}
	forgetBefore := micros(s.now().Add(-addressForgetting))
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		for _, k := range keys {
			// Address and pair counts fade after an hour; account counts are
			// consecutive.
			if _, err := tx.ExecContext(ctx, `INSERT INTO auth_failures (key, failures, last_at) VALUES ($1, 1, $2)
				ON CONFLICT (key) DO UPDATE SET
				failures = CASE WHEN auth_failures.key NOT LIKE 'acct:%' AND auth_failures.last_at < $3 THEN 1 ELSE auth_failures.failures + 1 END,
				last_at = $2`, k, now, forgetBefore); err != nil {
				return fmt.Errorf("count sign-in failure: %w", err)
			}
		}
		return nil
	})
}

// clearFailures resets the account's consecutive count and its counts from
// every address (the prefix is hex, so it holds no LIKE wildcard). The
// addresses' own counts stay: a success proves nothing about other accounts.
func (s *Service) clearFailures(ctx context.Context, email string) error {
	if _, err := s.db.Write.ExecContext(ctx, `DELETE FROM auth_failures WHERE key = $1 OR key LIKE $2`, s.accountKey(email), s.pairPrefix(email)+"%"); err != nil {
		return fmt.Errorf("clear sign-in failures: %w", err)
	}
	return nil
}

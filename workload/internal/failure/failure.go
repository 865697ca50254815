// Package failure tells a permanent failure from a transient one. A failure is
// permanent when the service rejected the request's own content (too large, a
// value it does not accept): the same message fails the same way on every
// receive, so the worker dead-letters it at once instead of retrying it until
// the receive limit. Failures about the deployment (throttling, a missing table,
// missing permissions, an unreachable endpoint) are transient: another receive,
// or the operator, can fix them, and the consumer's start-up check names them.
package failure

import (
	"errors"
	"fmt"
)

// ErrPermanent marks a failure no retry can fix.
var ErrPermanent = errors.New("permanent failure")

// Permanent marks err permanent, keeping it in the chain.
func Permanent(err error) error {
	if err == nil || errors.Is(err, ErrPermanent) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrPermanent, err)
}

// IsPermanent reports whether err, or anything it wraps, is permanent.
func IsPermanent(err error) bool { return errors.Is(err, ErrPermanent) }

package failure

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestPermanentMarksOnceAndKeepsTheChain(t *testing.T) {
	cause := errors.New("PropertyValueTooLarge")
	err := Permanent(fmt.Errorf("put result m-1: %w", cause))
	assert.True(t, IsPermanent(err))
	assert.ErrorIs(t, err, cause, "the cause stays in the chain")
	assert.Equal(t, "permanent failure: put result m-1: PropertyValueTooLarge", err.Error())

	again := Permanent(err)
	assert.Same(t, err, again, "marking twice changes nothing")
	assert.True(t, IsPermanent(fmt.Errorf("dead-letter: %w", err)), "wrapped further, still permanent")

	assert.NoError(t, Permanent(nil), "no error stays no error")
	assert.False(t, IsPermanent(cause), "an unmarked error is transient")
	assert.False(t, IsPermanent(nil))
}

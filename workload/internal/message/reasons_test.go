package message

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Reasons land in the dead-letter queue and the consumer's log, where the person
// reading them wrote JSON, not Go: every problem is named, in JSON field names.
func TestParseNamesEveryProblemInJSONTerms(t *testing.T) {
	cases := []struct {
		name, body string
		want       []string
		not        []string
	}{
		{"empty object lists every missing field", `{}`, []string{`missing "msg"`, `missing "srcStamp"`, `no "id"`}, nil},
		{"type error names the JSON field", `{"msg":"x","srcStamp":5}`,
			[]string{`"srcStamp" must be a string, not a number`}, []string{"wire", "Go struct"}},
		{"id says which characters are allowed", `{"id":"a/b","msg":"x","srcStamp":"2026-11-23 05:00:01.000000"}`,
			[]string{`"id" "a/b" contains '/'`, `any characters but / \ # ?`}, []string{"printable"}},
		{"all problems at once", `{"id":"","msg":false,"srcStamp":"yesterday"}`,
			[]string{`"msg" must be a string, not a boolean`, `"srcStamp" "yesterday" is not UTC time as YYYY-MM-DD HH:MM:SS.ffffff`, `"id" is 0 bytes`}, nil},
		{"array", `["msg"]`, []string{"not a JSON object", "an array"}, []string{"Go", "[]"}},
		{"cut short", `{"msg":`, []string{"not a JSON object", "ends before the value is complete"}, []string{"it is an object"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.body), "")
			require.ErrorIs(t, err, ErrInvalid)
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w)
			}
			for _, n := range c.not {
				assert.NotContains(t, err.Error(), n)
			}
		})
	}
}

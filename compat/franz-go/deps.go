//go:build tools

// Package kgocompat pins github.com/twmb/franz-go (v1.22.3) for compat/franz-go/run.sh, which runs
// that module's own pkg/kgo integration tests against a Runnel broker. No code of its own.
package kgocompat

import _ "github.com/twmb/franz-go/pkg/kgo"

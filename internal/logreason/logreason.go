// Package logreason adds a "reason" key to error log lines whose error carries a condition
// reason, so that the lines a framework writes for us (controller-runtime's "Reconciler
// error") can be filtered by reason like the operator's own lines.
package logreason

import (
	"errors"

	"github.com/go-logr/logr"
)

// Key is the key the reason is logged under, as in the operator's own lines.
const Key = "reason"

// Reasoner is an error that knows the condition reason it was judged to have.
type Reasoner interface {
	error
	Reason() string
}

// Wrap returns err carrying reason: its message and its chain (errors.Is, errors.As) are
// err's. A nil err or an empty reason returns err unchanged.
func Wrap(err error, reason string) error {
	if err == nil || reason == "" {
		return err
	}
	return &reasoned{err: err, reason: reason}
}

type reasoned struct {
	err    error
	reason string
}

func (r *reasoned) Error() string  { return r.err.Error() }
func (r *reasoned) Unwrap() error  { return r.err }
func (r *reasoned) Reason() string { return r.reason }

// Of returns the reason err carries, if any.
func Of(err error) (string, bool) {
	var r Reasoner
	if errors.As(err, &r) {
		return r.Reason(), true
	}
	return "", false
}

// Logger returns l, with every Error line whose error carries a reason given a "reason"
// key (unless the line already names one).
func Logger(l logr.Logger) logr.Logger {
	s := l.GetSink()
	if s == nil {
		return l
	}
	// s was initialised by l's own logr.New; the one frame this wrapper adds is told to it
	// here, once (Init below must not tell it again).
	if d, ok := s.(logr.CallDepthLogSink); ok {
		s = d.WithCallDepth(1)
	}
	return logr.New(&sink{inner: s})
}

// sink passes everything to inner and adds the reason to Error lines.
type sink struct {
	inner logr.LogSink
}

// Init does nothing: the inner sink was initialised by the logger it came from.
func (s *sink) Init(logr.RuntimeInfo) {}

func (s *sink) Enabled(level int) bool { return s.inner.Enabled(level) }

func (s *sink) Info(level int, msg string, kv ...any) { s.inner.Info(level, msg, kv...) }

func (s *sink) Error(err error, msg string, kv ...any) {
	if reason, ok := Of(err); ok && !hasKey(kv, Key) {
		kv = append(kv[:len(kv):len(kv)], Key, reason)
	}
	s.inner.Error(err, msg, kv...)
}

func (s *sink) WithValues(kv ...any) logr.LogSink {
	return &sink{inner: s.inner.WithValues(kv...)}
}

func (s *sink) WithName(name string) logr.LogSink {
	return &sink{inner: s.inner.WithName(name)}
}

// WithCallDepth keeps the caller right when a user asks for more depth (zap's sink
// implements logr.CallDepthLogSink).
func (s *sink) WithCallDepth(depth int) logr.LogSink {
	if d, ok := s.inner.(logr.CallDepthLogSink); ok {
		return &sink{inner: d.WithCallDepth(depth)}
	}
	return s
}

func hasKey(kv []any, key string) bool {
	for i := 0; i+1 < len(kv); i += 2 {
		if k, ok := kv[i].(string); ok && k == key {
			return true
		}
	}
	return false
}

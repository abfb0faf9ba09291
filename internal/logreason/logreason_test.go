package logreason

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	uzap "go.uber.org/zap"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

var errBackend = errors.New("backend unavailable")

func capture() (logr.Logger, *[]string) {
	var lines []string
	l := funcr.New(func(prefix, args string) { lines = append(lines, args) }, funcr.Options{})
	return l, &lines
}

func TestErrorLinesGetTheReason(t *testing.T) {
	base, lines := capture()
	l := Logger(base).WithName("ctrl").WithValues("namespace", "team-a")

	wrapped := fmt.Errorf("reconcile: %w", Wrap(errBackend, "BackendUnavailable"))
	l.Error(wrapped, "Reconciler error")
	l.Error(errBackend, "no reason here")
	l.Error(Wrap(errBackend, "BackendUnavailable"), "already named", "reason", "Other")
	l.Info("info lines are left alone", "k", "v")

	want := []string{
		`"reason"="BackendUnavailable"`,
		"",
		`"reason"="Other"`,
		"",
	}
	if len(*lines) != len(want) {
		t.Fatalf("got %d lines, want %d: %q", len(*lines), len(want), *lines)
	}
	for i, w := range want {
		got := (*lines)[i]
		n := strings.Count(got, `"reason"=`)
		switch {
		case w == "" && n != 0:
			t.Errorf("line %d has a reason, want none: %s", i, got)
		case w != "" && (n != 1 || !strings.Contains(got, w)):
			t.Errorf("line %d = %s, want exactly one %s", i, got, w)
		}
		if !strings.Contains(got, `"namespace"="team-a"`) {
			t.Errorf("line %d lost the logger's values: %s", i, got)
		}
	}
}

func TestWrapKeepsTheChain(t *testing.T) {
	err := Wrap(errBackend, "BackendUnavailable")
	if !errors.Is(err, errBackend) || err.Error() != errBackend.Error() {
		t.Fatalf("Wrap changed the error: %v", err)
	}
	if r, ok := Of(fmt.Errorf("x: %w", err)); !ok || r != "BackendUnavailable" {
		t.Fatalf("Of = %q, %v", r, ok)
	}
	if Wrap(nil, "X") != nil || Wrap(errBackend, "") != errBackend {
		t.Fatal("Wrap must leave nil errors and empty reasons alone")
	}
	if _, ok := Of(errBackend); ok {
		t.Fatal("an error without a reason has one")
	}
}

func TestCallerIsTheCallersLine(t *testing.T) {
	var buf strings.Builder
	l := Logger(zap.New(zap.WriteTo(&buf), zap.RawZapOpts(uzap.AddCaller())))
	l.Error(Wrap(errBackend, "X"), "where")
	l.WithValues("a", "b").WithName("n").Info("where")
	out := buf.String()
	if strings.Count(out, `"caller":"logreason/logreason_test.go:`) != 2 {
		t.Fatalf("caller is not this file in both lines:\n%s", out)
	}
}

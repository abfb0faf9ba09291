package proc

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestStartPinsAndStopAll starts real shells, pinned to CPU 0 or not, checks where the
// kernel lets them run and what Status reads, and that StopAll ends them all.
func TestStartPinsAndStopAll(t *testing.T) {
	if _, err := exec.LookPath("taskset"); err != nil {
		t.Skip("taskset is not installed (bench.sh requires it)")
	}
	cases := map[string]struct {
		cpus        string
		wantAllowed string // Cpus_allowed_list in /proc/<pid>/status; "" for any
	}{
		"pinned to CPU 0": {cpus: "0", wantAllowed: "0"},
		"not pinned":      {cpus: ""},
	}
	var started []*Process
	for name, tc := range cases {
		p, err := Start(Spec{Name: strings.ReplaceAll(name, " ", "-"), Path: "/bin/sh",
			Args: []string{"-c", "echo started; exec sleep 60"}, CPUs: tc.cpus, LogDir: t.TempDir(), StopGrace: time.Second})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		started = append(started, p)
		deadline := time.Now().Add(30 * time.Second)
		for {
			data, _ := os.ReadFile(p.LogPath)
			if strings.Contains(string(data), "started") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: log %s never showed the output", name, p.LogPath)
			}
			time.Sleep(20 * time.Millisecond)
		}
		status, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pid()) + "/status")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if tc.wantAllowed != "" && !strings.Contains(string(status), "Cpus_allowed_list:\t"+tc.wantAllowed+"\n") {
			t.Errorf("%s: not pinned to CPU %s:\n%s", name, tc.wantAllowed, status)
		}
		if rss, err := Status(p.Pid(), "VmRSS"); err != nil || rss <= 0 {
			t.Errorf("%s: VmRSS %d, %v", name, rss, err)
		}
		if _, err := CPUTime(p.Pid()); err != nil {
			t.Errorf("%s: CPUTime: %v", name, err)
		}
	}
	StopAll()
	for _, p := range started {
		if !p.Exited() {
			t.Errorf("%s still runs after StopAll", p.Name)
		}
	}
}

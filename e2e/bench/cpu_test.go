package bench

import (
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"
)

func TestChildrenSeesASpinningChildsCPU(t *testing.T) {
	// A shell loop that burns CPU until killed.
	cmd := exec.Command("sh", "-c", "while :; do :; done", "spinner-marker")
	if err := cmd.Start(); err != nil {
		t.Skipf("no sh: %v", err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()

	var found Proc
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		kids, err := Children(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(kids, func(p Proc) bool { return p.PID == cmd.Process.Pid })
		if i < 0 {
			t.Fatalf("child %d not among %+v", cmd.Process.Pid, kids)
		}
		if found = kids[i]; found.CPUTime > 0 {
			break
		}
	}
	if found.CPUTime <= 0 {
		t.Fatalf("spinning child used no CPU: %+v", found)
	}
	if found.Comm != "sh" || !slices.Contains(found.Args, "spinner-marker") {
		t.Errorf("comm %q args %q", found.Comm, found.Args)
	}
}

func TestReadProcOfAMissingProcess(t *testing.T) {
	if _, err := ReadProc(-1); err == nil {
		t.Error("pid -1 read")
	}
}

func TestMachineBusyGrowsWhileThisProcessWorks(t *testing.T) {
	before, err := MachineBusy()
	if err != nil {
		t.Fatal(err)
	}
	self, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Burn at least 50 ms of this process's CPU, as /proc counts it.
	for {
		p, err := ReadProc(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if p.CPUTime-self.CPUTime >= 50*time.Millisecond {
			break
		}
		for i := 0; i < 1e6; i++ {
			_ = i * i
		}
	}
	after, err := MachineBusy()
	if err != nil {
		t.Fatal(err)
	}
	// Ticks are 10 ms; this process alone used 50 ms in between.
	if after-before < 30*time.Millisecond {
		t.Errorf("machine busy grew by %s while this process used 50 ms", after-before)
	}
}

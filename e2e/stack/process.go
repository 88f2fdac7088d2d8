package stack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Process is one child process of the stack, with its output in a log file.
type Process struct {
	Name    string
	LogPath string

	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// startProcess runs bin with args, its stdout and stderr appended to
// logDir/name.log. The child gets its own process group and dies with its
// parent (Pdeathsig), so an interrupted demo or test leaves nothing behind.
func startProcess(name, bin string, args []string, logDir string) (*Process, error) {
	logPath := filepath.Join(logDir, name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("%s: open log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("%s: start %s: %w", name, bin, err)
	}
	p := &Process{Name: name, LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// Exited reports whether the process has ended, and how.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Stop sends SIGTERM to the process group, waits up to grace for a clean
// exit, then kills it. A process that exits on SIGTERM is not an error.
func (p *Process) Stop(grace time.Duration) error {
	if exited, _ := p.Exited(); exited {
		return nil
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
		return p.exitError()
	case <-time.After(grace):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("%s: did not stop within %s, killed", p.Name, grace)
	}
}

func (p *Process) exitError() error {
	var exit *exec.ExitError
	if p.err == nil || (errors.As(p.err, &exit) && !exit.Exited()) {
		return nil // clean exit, or ended by the signal we sent
	}
	return fmt.Errorf("%s: %w (log: %s)", p.Name, p.err, p.LogPath)
}

// Tail returns the last n bytes of the process log, for error messages.
func (p *Process) Tail(n int64) string {
	f, err := os.Open(p.LogPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		_, _ = f.Seek(-n, 2)
	}
	b := make([]byte, n)
	m, _ := f.Read(b)
	return string(b[:m])
}

// waitUntil polls ready until it returns nil, the process exits, or ctx ends.
// The probe goes by address, so it may reach another process on the same
// port (a demo already running): a child that exited is a failure whatever
// the probe says, checked before the probe and again after it passed.
func waitUntil(ctx context.Context, p *Process, ready func(context.Context) error) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if err := p.exitedEarly(); err != nil {
			return err
		}
		if last = ready(ctx); last == nil {
			return p.exitedEarly()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w (last check: %v); log tail:\n%s", p.Name, ctx.Err(), last, p.Tail(2048))
		case <-tick.C:
		}
	}
}

// exitedEarly returns an error naming the process, with its log tail, when
// it has exited; one that wraps ErrPortInUse when its log says a bind
// failed for that reason.
func (p *Process) exitedEarly() error {
	exited, err := p.Exited()
	if !exited {
		return nil
	}
	if err == nil {
		err = errors.New("exit status 0")
	}
	tail := p.Tail(2048)
	if strings.Contains(tail, "address already in use") {
		err = fmt.Errorf("%w: %v", ErrPortInUse, err)
	}
	return fmt.Errorf("%s exited (%w); log %s, tail:\n%s", p.Name, err, p.LogPath, tail)
}

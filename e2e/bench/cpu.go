package bench

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of /proc/<pid>/stat times (USER_HZ, 100 on Linux).
const userHZ = 100

// Proc is a process of the machine as /proc shows it.
type Proc struct {
	PID     int
	PPID    int
	Comm    string   // the executable's name, at most 15 bytes
	Args    []string // the command line
	CPUTime time.Duration
}

// ReadProc reads a process's parent, name, command line and the CPU time
// (user plus system) it has used so far, from /proc (Linux only).
func ReadProc(pid int) (Proc, error) {
	dir := filepath.Join("/proc", strconv.Itoa(pid))
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return Proc{}, err
	}
	// pid (comm) state ppid ... utime(14) stime(15): comm may hold spaces
	// and parentheses, so fields are counted from the last ')'.
	open, end := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
	if open < 0 || end < open {
		return Proc{}, fmt.Errorf("%s/stat: unexpected format", dir)
	}
	f := strings.Fields(string(stat[end+1:]))
	if len(f) < 13 {
		return Proc{}, fmt.Errorf("%s/stat: %d fields", dir, len(f))
	}
	ppid, err1 := strconv.Atoi(f[1])
	utime, err2 := strconv.ParseInt(f[11], 10, 64)
	stime, err3 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return Proc{}, fmt.Errorf("%s/stat: bad numbers", dir)
	}
	p := Proc{PID: pid, PPID: ppid, Comm: string(stat[open+1 : end]),
		CPUTime: time.Duration(utime+stime) * time.Second / userHZ}
	if cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil {
		p.Args = strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	}
	return p, nil
}

// Children returns the processes whose parent is ppid. Processes that end
// while the list is read are left out.
func Children(ppid int) ([]Proc, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []Proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		p, err := ReadProc(pid)
		if err != nil || p.PPID != ppid {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// MachineBusy returns the CPU time all cores of the machine have spent not
// idle (and not waiting for I/O) since boot, steal time included, from
// /proc/stat.
func MachineBusy() (time.Duration, error) {
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(stat), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var busy int64
	for i, s := range f[1:] {
		if i >= 8 { // guest and guest_nice are already in user and nice
			break
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %q: %w", line, err)
		}
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return time.Duration(busy) * time.Second / userHZ, nil
}

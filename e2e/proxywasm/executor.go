package proxywasm

import "sync"

// executor runs a VM's asynchronous work (timer ticks, callout completions,
// queue notifications) one task at a time, in the order it was posted, on
// its own goroutine. Its queue is unbounded so that posting never blocks:
// a guest call that holds the VM lock may post work for the same VM.
type executor struct {
	mu      sync.Mutex
	tasks   []func()
	wake    chan struct{}
	done    chan struct{}
	stopped bool
}

func newExecutor() *executor {
	e := &executor{wake: make(chan struct{}, 1), done: make(chan struct{})}
	go e.run()
	return e
}

// post queues fn and reports whether the executor accepted it.
func (e *executor) post(fn func()) bool {
	e.mu.Lock()
	if e.stopped {
		e.mu.Unlock()
		return false
	}
	e.tasks = append(e.tasks, fn)
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
	return true
}

func (e *executor) run() {
	defer close(e.done)
	for {
		e.mu.Lock()
		for len(e.tasks) == 0 && !e.stopped {
			e.mu.Unlock()
			<-e.wake
			e.mu.Lock()
		}
		if e.stopped {
			e.mu.Unlock()
			return
		}
		fn := e.tasks[0]
		e.tasks[0] = nil
		e.tasks = e.tasks[1:]
		e.mu.Unlock()
		fn()
	}
}

// stop drops queued tasks, waits for the running one and ends the goroutine.
// It must not be called from a task.
func (e *executor) stop() {
	e.mu.Lock()
	e.stopped = true
	e.tasks = nil
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
	<-e.done
}

// Command shadowdiff is the shadowdiff CLI: it reads the collector's
// verdict on shadow traffic and gates releases on it. Run `shadowdiff
// --help` for its commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/shadowdiff/shadowdiff/collector/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// Command parc is the Parc CLI, a client of the collector's API.
package main

import (
	"context"
	"os"
	"os/signal"

	"parc/collector/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// Command atlas11-bookload books appointments over HTTP against a running
// atlas11 on loopback and reports bookings/s and latency percentiles.
//
// It signs up experts and clients, publishes one one-off slot per booking
// (setup, not measured), then books them: closed-loop with -c workers, or
// open-loop at -rate requests/s (latency measured from each request's
// scheduled time, so a stalled server is not hidden). Every loop is bounded
// by -n and -duration.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"atlas11/cmd/internal/loadkit"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "atlas11-bookload:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	stopProfile, err := loadkit.StartCPUProfile(cfg.CPUProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	res, err := load(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	res.print(stdout)
	return nil
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("atlas11-bookload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	fs.StringVar(&c.URL, "url", "http://127.0.0.1:8080", "atlas11 base URL (loopback only)")
	fs.IntVar(&c.N, "n", 20000, "bookings to attempt (one slot each)")
	fs.IntVar(&c.Concurrency, "c", 64, "concurrent requests in flight at most")
	fs.Float64Var(&c.Rate, "rate", 0, "open-loop request rate per second (0: closed loop, as fast as -c allows)")
	fs.DurationVar(&c.Duration, "duration", 60*time.Second, "stop booking after this long")
	fs.IntVar(&c.Experts, "experts", 20, "experts to sign up")
	fs.IntVar(&c.Clients, "clients", 100, "clients to sign up")
	fs.DurationVar(&c.SetupTimeout, "setup-timeout", 5*time.Minute, "bound on the setup phase")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write a CPU profile of this load generator to the file")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	return c, c.validate()
}

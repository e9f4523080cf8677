// Command atlas11-load measures the media server the way a real event uses
// it: one expert publishing three-layer VP8 simulcast plus Opus to up to 49
// participants, all Pion clients admitted through the real control plane. It
// prints progress, then one JSON object with the figures as its last line.
//
//	atlas11-load -url http://127.0.0.1:8080 -subscribers 49 -duration 20s \
//	    -operator-email ops@example.test -operator-password '...'
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"atlas11/cmd/internal/loadkit"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "atlas11-load:", err)
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// config is the run's shape; every count and duration is bounded by validate.
type config struct {
	url                 string
	metricsURL          string
	subscribers         int
	late, lateCycles    int
	capped              int
	capKbps             int
	stall               bool
	stallFor            time.Duration
	duration            time.Duration
	opEmail, opPassword string
	spec                mediaSpec
	joinWorkers         int
	cpuProfile          string
	twcc                bool
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("atlas11-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	var kbps string
	fs.StringVar(&c.url, "url", "http://127.0.0.1:8080", "base URL of a running atlas11 (loopback)")
	fs.StringVar(&c.metricsURL, "metrics-url", "http://127.0.0.1:9464/metrics", "the server's /metrics, on its admin listener (admin_addr)")
	fs.IntVar(&c.subscribers, "subscribers", 49, "participants receiving the expert (1-49, the event cap)")
	fs.IntVar(&c.late, "late", 4, "participants among -subscribers who join late, to measure first-frame time")
	fs.IntVar(&c.lateCycles, "late-cycles", 3, "joins per late participant (each leaves and joins again)")
	fs.IntVar(&c.capped, "capped", 1, "participants whose downlink is capped for the middle of the run")
	fs.IntVar(&c.capKbps, "cap-kbps", 300, "downlink cap of the capped participants, kbit/s")
	fs.BoolVar(&c.stall, "stall", true, "make one participant stop reading media for -stall-for")
	fs.DurationVar(&c.stallFor, "stall-for", 10*time.Second, "how long the stalled participant stops reading")
	fs.DurationVar(&c.duration, "duration", 20*time.Second, "measurement time once everyone receives (1s-10m)")
	fs.StringVar(&c.opEmail, "operator-email", getenv("ATLAS11_OPERATOR_EMAIL"), "operator account, to move a --clock=sim server's clock (env ATLAS11_OPERATOR_EMAIL)")
	fs.StringVar(&c.opPassword, "operator-password", getenv("ATLAS11_OPERATOR_PASSWORD"), "operator password (env ATLAS11_OPERATOR_PASSWORD)")
	fs.StringVar(&kbps, "layers-kbps", "150,500,1500", "bitrates of the q,h,f simulcast layers, kbit/s")
	fs.IntVar(&c.spec.fps, "fps", 30, "video frame rate")
	fs.DurationVar(&c.spec.keyInterval, "keyframe-interval", 3*time.Second, "periodic keyframe interval of the publisher")
	fs.IntVar(&c.joinWorkers, "join-workers", 8, "participants connecting at the same time")
	fs.BoolVar(&c.twcc, "twcc", true, "participants send TWCC feedback like browsers; false leaves the SFU without an estimate, to measure forwarding alone")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write this tool's CPU profile to the file (is the client the bottleneck?)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	parts := strings.Split(kbps, ",")
	if len(parts) != 3 {
		return c, fmt.Errorf("-layers-kbps wants three numbers, got %q", kbps)
	}
	for i, p := range parts {
		var v int
		if _, err := fmt.Sscanf(strings.TrimSpace(p), "%d", &v); err != nil || v < 16 || v > 20000 {
			return c, fmt.Errorf("-layers-kbps: %q is not a bitrate between 16 and 20000", p)
		}
		c.spec.bitrates[i] = v * 1000
	}
	c.spec.audioBytes = 80 // about 32 kbit/s of Opus
	return c, c.validate()
}

func (c config) validate() error {
	switch {
	case c.subscribers < 1 || c.subscribers > 49:
		return fmt.Errorf("-subscribers must be 1-49 (the event cap), got %d", c.subscribers)
	case c.late < 0 || c.late >= c.subscribers && c.late > 0:
		return fmt.Errorf("-late must be 0 to -subscribers-1, got %d", c.late)
	case c.lateCycles < 1 || c.lateCycles > 20:
		return fmt.Errorf("-late-cycles must be 1-20, got %d", c.lateCycles)
	case c.capped < 0 || c.capped > c.subscribers-c.late-boolInt(c.stall):
		return fmt.Errorf("-capped must be 0 to the participants who are neither late nor stalled, got %d", c.capped)
	case c.stall && c.subscribers-c.late < 1:
		return fmt.Errorf("-stall needs a participant who is not late")
	case c.capKbps < 50 || c.capKbps > 100000:
		return fmt.Errorf("-cap-kbps must be 50-100000, got %d", c.capKbps)
	case c.duration < time.Second || c.duration > 10*time.Minute:
		return fmt.Errorf("-duration must be 1s-10m, got %s", c.duration)
	case c.stallFor < 0 || c.stallFor > c.duration:
		return fmt.Errorf("-stall-for must be 0 to -duration, got %s", c.stallFor)
	case c.spec.fps < 1 || c.spec.fps > 60:
		return fmt.Errorf("-fps must be 1-60, got %d", c.spec.fps)
	case c.spec.keyInterval < 100*time.Millisecond:
		return fmt.Errorf("-keyframe-interval must be at least 100ms")
	case c.joinWorkers < 1 || c.joinWorkers > 49:
		return fmt.Errorf("-join-workers must be 1-49")
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// run is the whole command: flags, admission through the API, the load.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	stopProfile, err := loadkit.StartCPUProfile(cfg.cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	adm, err := newAPIAdmission(cfg.url, cfg.opEmail, cfg.opPassword)
	if err != nil {
		return err
	}
	return runLoad(ctx, cfg, adm, cfg.metricsURL, stdout)
}

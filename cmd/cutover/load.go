package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/spf13/cobra"
	vegeta "github.com/tsenart/vegeta/v12/lib"
	"github.com/tsenart/vegeta/v12/lib/plot"
	"golang.org/x/term"

	"github.com/cutover-dev/cutover/loadtest"
)

func newLoadCmd() *cobra.Command {
	var (
		target, targetsFile, rate, ramp, method, body, slo, output, plotFile string
		headers                                                              []string
		duration, timeout, step                                              time.Duration
		connections                                                          int
		http2, insecure, findLimit                                           bool
		maxRate                                                              float64
	)
	cmd := &cobra.Command{
		Use:   "load --target URL --rate 100/s --duration 30s",
		Short: "Drive load at a target with vegeta: a rate, a ramp, or the highest rate that holds an SLO",
		Long: `Sends requests at a constant rate (--rate), a linear ramp (--ramp
100:2000/60s), or, with --find-limit, steps the rate up until --slo breaks
and reports the last rate that held: the pod's performance limit of the
handbook's §15.2. A progress line shows the rate, p50/p99, errors and the
time left. The report has latency percentiles, a histogram, status codes,
throughput and errors by kind; --output writes vegeta's results (JSON, read
by vegeta report and vegeta plot) and --plot an HTML plot of latency over
time, one series per rate tried.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			hdr := http.Header{}
			for _, h := range headers {
				k, v, ok := strings.Cut(h, ":")
				if !ok {
					return fmt.Errorf("-H %q: want Name: value", h)
				}
				hdr.Add(strings.TrimSpace(k), strings.TrimSpace(v))
			}
			var bodyBytes []byte
			if strings.HasPrefix(body, "@") {
				b, err := os.ReadFile(body[1:])
				if err != nil {
					return fmt.Errorf("--body: %w", err)
				}
				bodyBytes = b
			} else if body != "" {
				bodyBytes = []byte(body)
			}
			var tr vegeta.Targeter
			switch {
			case target != "" && targetsFile != "":
				return fmt.Errorf("--target and --targets: give one")
			case target != "":
				if !strings.HasPrefix(target, "http://") && !strings.HasPrefix(target, "https://") {
					return fmt.Errorf("--target %q: want an http:// or https:// URL", target)
				}
				tr = vegeta.NewStaticTargeter(vegeta.Target{Method: method, URL: target, Body: bodyBytes, Header: hdr})
			case targetsFile != "":
				data, err := os.ReadFile(targetsFile)
				if err != nil {
					return fmt.Errorf("--targets: %w", err)
				}
				all, err := vegeta.ReadAllTargets(vegeta.NewHTTPTargeter(bytes.NewReader(data), bodyBytes, hdr))
				if err != nil {
					return fmt.Errorf("--targets %s: %w", targetsFile, err)
				}
				tr = vegeta.NewStaticTargeter(all...)
			default:
				return fmt.Errorf("--target URL or --targets FILE is needed")
			}
			o := loadtest.Options{Targets: tr, Duration: duration, Connections: connections, HTTP2: http2, Timeout: timeout, Insecure: insecure, Name: "load"}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			var observers []func(*vegeta.Result)
			if output != "" {
				f, err := os.Create(output)
				if err != nil {
					return fmt.Errorf("--output: %w", err)
				}
				defer f.Close()
				w := bufio.NewWriter(f)
				defer w.Flush()
				enc := vegeta.NewJSONEncoder(w)
				observers = append(observers, func(r *vegeta.Result) { enc.Encode(r) })
			}
			var p *plot.Plot
			if plotFile != "" {
				p = plot.New(plot.Title("cutover load"))
				observers = append(observers, func(r *vegeta.Result) { p.Add(r) })
			}
			defer func() {
				if p == nil {
					return
				}
				p.Close()
				if f, err := os.Create(plotFile); err == nil {
					p.WriteTo(f)
					f.Close()
				}
			}()
			tty := false
			if f, ok := out.(*os.File); ok {
				tty = term.IsTerminal(int(f.Fd()))
			}
			if findLimit {
				return runFindLimit(ctx, cmd, o, slo, rate, maxRate, step, observers)
			}
			switch {
			case ramp != "" && cmd.Flags().Changed("rate"):
				return fmt.Errorf("--rate and --ramp: give one")
			case ramp != "":
				pacer, d, err := loadtest.ParseRamp(ramp)
				if err != nil {
					return fmt.Errorf("--ramp: %w", err)
				}
				o.Pacer, o.Duration = pacer, d
			default:
				r, err := loadtest.ParseRate(rate)
				if err != nil {
					return fmt.Errorf("--rate: %w", err)
				}
				o.Pacer = r
			}
			if o.Duration <= 0 {
				return fmt.Errorf("--duration: %v is not a positive duration", duration)
			}
			var tally loadtest.Tally
			done := make(chan struct{})
			interval := time.Second
			if !tty {
				interval = 5 * time.Second
			}
			go tally.Progress(cmd.ErrOrStderr(), tty, interval, o.Duration, done)
			m := loadtest.Run(ctx, o, append(observers, tally.Add)...)
			close(done)
			return tally.Report(out, m)
		},
	}
	f := cmd.Flags()
	f.StringVar(&target, "target", "", "URL to send every request to")
	f.StringVar(&targetsFile, "targets", "", "targets file in vegeta's format (METHOD URL, headers, @body)")
	f.StringVar(&rate, "rate", "50/s", "requests per second (100, 100/s, 6000/1m); with --find-limit, the first rate tried")
	f.StringVar(&ramp, "ramp", "", "a linear ramp FROM:TO/DURATION, such as 100:2000/60s")
	f.DurationVar(&duration, "duration", 10*time.Second, "how long to send")
	f.StringVar(&method, "method", "GET", "request method")
	f.StringArrayVarP(&headers, "header", "H", nil, "request header, Name: value (repeatable)")
	f.StringVar(&body, "body", "", "request body, or @file")
	f.IntVar(&connections, "connections", 10000, "most open connections to the target")
	f.BoolVar(&http2, "http2", false, "use HTTP/2 over TLS")
	f.DurationVar(&timeout, "timeout", 30*time.Second, "per-request timeout")
	f.BoolVar(&insecure, "insecure", false, "do not verify the target's TLS certificate")
	f.BoolVar(&findLimit, "find-limit", false, "step the rate up until --slo breaks; report the last rate that held")
	f.StringVar(&slo, "slo", "p99<200ms,errors<1%", "what a rate must hold with --find-limit")
	f.DurationVar(&step, "step-duration", 5*time.Second, "how long each rate is held with --find-limit")
	f.Float64Var(&maxRate, "max-rate", 0, "highest rate --find-limit tries (0: no bound)")
	f.StringVar(&output, "output", "", "write vegeta's results, JSON, to this file")
	f.StringVar(&plotFile, "plot", "", "write an HTML plot of latency over time to this file")
	return cmd
}

func runFindLimit(ctx context.Context, cmd *cobra.Command, o loadtest.Options, sloText, start string, maxRate float64, step time.Duration, observers []func(*vegeta.Result)) error {
	slo, err := loadtest.ParseSLO(sloText)
	if err != nil {
		return fmt.Errorf("--slo: %w", err)
	}
	r, err := loadtest.ParseRate(start)
	if err != nil {
		return fmt.Errorf("--rate: %w", err)
	}
	if step <= 0 {
		return fmt.Errorf("--step-duration: %v is not a positive duration", step)
	}
	out := cmd.OutOrStdout()
	first := float64(r.Freq) / r.Per.Seconds()
	fmt.Fprintf(out, "%10s %10s %10s %10s %8s  %s\n", "rate", "achieved", "p50", "p99", "errors", "SLO "+sloText)
	limit, _ := loadtest.FindLimitObserved(ctx, o, slo, first, maxRate, step, observers, func(s loadtest.Step) {
		verdict := "holds"
		if !s.Held {
			verdict = "breaks: " + s.Why
		}
		fmt.Fprintf(out, "%8.0f/s %8.0f/s %10v %10v %7.2f%%  %s\n", s.Rate, s.Metrics.Throughput,
			s.Metrics.Latencies.P50.Round(10*time.Microsecond), s.Metrics.Latencies.P99.Round(10*time.Microsecond),
			100*loadtest.ErrorRatio(s.Metrics), verdict)
	})
	if limit == 0 {
		fmt.Fprintf(out, "no rate held the SLO, from %.0f/s\n", first)
		return exitError(1)
	}
	fmt.Fprintf(out, "limit: %.0f/s (the highest rate that held %s)\n", limit, sloText)
	return nil
}

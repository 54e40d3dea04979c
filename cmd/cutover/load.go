package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
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
		connections, workers                                                 int
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
			if workers < 1 {
				return fmt.Errorf("--workers: %d is below 1", workers)
			}
			o := loadtest.Options{Targets: tr, Duration: duration, Connections: connections, HTTP2: http2, Timeout: timeout, Insecure: insecure, Name: "load", MaxWorkers: uint64(workers)}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			var observers []func(*vegeta.Result)
			if output != "" {
				write, closeOutput, err := resultsFile(output)
				if err != nil {
					return err
				}
				defer closeOutput()
				observers = append(observers, write)
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
				return runFindLimit(ctx, cmd, o, slo, rate, maxRate, step, plotFile, observers)
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
	f.StringVar(&rate, "rate", "50/s", "requests per second (100, 100/s, 6000/1m, or max: as fast as --workers go); with --find-limit, the first rate tried")
	f.IntVar(&workers, "workers", 512, "most requests in flight")
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
	f.StringVar(&plotFile, "plot", "", "write an HTML plot of latency over time to this file (with --find-limit, also <name>-rate.png: latency against rate)")
	cmd.AddCommand(newReplayCmd())
	return cmd
}

func runFindLimit(ctx context.Context, cmd *cobra.Command, o loadtest.Options, sloText, start string, maxRate float64, step time.Duration, plotFile string, observers []func(*vegeta.Result)) error {
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
	if r.Freq == 0 {
		return fmt.Errorf("--rate max: --find-limit needs a first rate to step up from")
	}
	out := cmd.OutOrStdout()
	first := float64(r.Freq) / r.Per.Seconds()
	fmt.Fprintf(out, "%10s %10s %10s %10s %8s  %s\n", "rate", "achieved", "p50", "p99", "errors", "SLO "+sloText)
	limit, steps := loadtest.FindLimitObserved(ctx, o, slo, first, maxRate, step, observers, func(s loadtest.Step) {
		verdict := "holds"
		if !s.Held {
			verdict = "breaks: " + s.Why
		}
		fmt.Fprintf(out, "%8.0f/s %8.0f/s %10v %10v %7.2f%%  %s\n", s.Rate, s.Metrics.Throughput,
			s.Metrics.Latencies.P50.Round(10*time.Microsecond), s.Metrics.Latencies.P99.Round(10*time.Microsecond),
			100*loadtest.ErrorRatio(s.Metrics), verdict)
	})
	if plotFile != "" {
		png := strings.TrimSuffix(plotFile, filepath.Ext(plotFile)) + "-rate.png"
		f, err := os.Create(png)
		if err != nil {
			return fmt.Errorf("--plot: %w", err)
		}
		err = loadtest.RatePlot(f, steps)
		f.Close()
		if err != nil {
			return fmt.Errorf("--plot: %w", err)
		}
		fmt.Fprintf(out, "latency against rate: %s\n", png)
	}
	if limit == 0 {
		fmt.Fprintf(out, "no rate held the SLO, from %.0f/s\n", first)
		return exitError(1)
	}
	fmt.Fprintf(out, "limit: %.0f/s (the highest rate that held %s)\n", limit, sloText)
	return nil
}

func newReplayCmd() *cobra.Command {
	var (
		logFile, target, compare, methods, host, output string
		speed                                           float64
		concurrency                                     int
		timeout                                         time.Duration
	)
	cmd := &cobra.Command{
		Use:   "replay --log FILE --target URL",
		Short: "Replay an access log at its recorded pace (cutover's JSON lines, nginx/Apache combined)",
		Long: `Sends the requests of an access log to a target at the log's pace (or
--speed times it), GET and HEAD only unless --methods says otherwise
(replaying writes would repeat them; the handbook's §16.3.3 mirrored GETs
only). --host rewrites the Host; --compare sends every request to a second
target too and reports per path where the status or the body differ. Lines
that are not a request are counted and listed by number, never fatal.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			parse := func(flag, s string) (*url.URL, error) {
				u, err := url.Parse(s)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return nil, fmt.Errorf("--%s %q: want an http:// or https:// URL", flag, s)
				}
				u.Path = strings.TrimSuffix(u.Path, "/")
				return u, nil
			}
			if logFile == "" {
				return fmt.Errorf("--log FILE is needed")
			}
			o := loadtest.ReplayOptions{Speed: speed, Host: host, Concurrency: concurrency, Timeout: timeout}
			var err error
			if o.Target, err = parse("target", target); err != nil {
				return err
			}
			if compare != "" {
				if o.Compare, err = parse("compare", compare); err != nil {
					return err
				}
			}
			if speed <= 0 {
				return fmt.Errorf("--speed: %v is not above 0", speed)
			}
			for _, m := range strings.Split(methods, ",") {
				if m = strings.ToUpper(strings.TrimSpace(m)); m != "" {
					o.Methods = append(o.Methods, m)
				}
			}
			f, err := os.Open(logFile)
			if err != nil {
				return fmt.Errorf("--log: %w", err)
			}
			entries, bad, err := loadtest.ReadLog(f)
			f.Close()
			if err != nil {
				return fmt.Errorf("--log %s: %w", logFile, err)
			}
			if len(bad) > 0 {
				fmt.Fprintf(out, "%s: %d line(s) skipped:", logFile, len(bad))
				for i, b := range bad {
					if i == 10 {
						fmt.Fprintf(out, " …")
						break
					}
					fmt.Fprintf(out, " %d (%s)", b.Line, b.Why)
				}
				fmt.Fprintln(out)
			}
			var observers []func(*vegeta.Result)
			if output != "" {
				write, closeOutput, err := resultsFile(output)
				if err != nil {
					return err
				}
				defer closeOutput()
				observers = append(observers, write)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			var tally loadtest.Tally
			res := loadtest.Replay(ctx, entries, o, append(observers, tally.Add)...)
			fmt.Fprintf(out, "replayed %d request(s), skipped %d by method, at most %v behind the log's pace\n\n", res.Sent, res.Skipped, res.Late.Round(time.Millisecond))
			if err := tally.Report(out, res.Metrics); err != nil {
				return err
			}
			if o.Compare != nil {
				if len(res.Differences) == 0 {
					fmt.Fprintf(out, "\nboth targets answered every path alike\n")
				}
				for i, d := range res.Differences {
					if i == 0 {
						fmt.Fprintf(out, "\n| path | requests | status differs | body differs | example |\n| --- | ---: | ---: | ---: | --- |\n")
					}
					fmt.Fprintf(out, "| %s | %d | %d | %d | %s: %s |\n", d.Path, d.Requests, d.StatusDiffers, d.BodyDiffers, d.Example, d.Answer)
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&logFile, "log", "", "access log: cutover's JSON lines or nginx/Apache combined format")
	f.StringVar(&target, "target", "", "where to send, http://host:port (the logged path is appended)")
	f.StringVar(&compare, "compare", "", "a second target; report where the two answer differently")
	f.Float64Var(&speed, "speed", 1, "how many times faster than the log")
	f.StringVar(&methods, "methods", "GET,HEAD", "methods to replay")
	f.StringVar(&host, "host", "", "Host header for every request (default: the logged one)")
	f.IntVar(&concurrency, "concurrency", 256, "requests in flight at most")
	f.DurationVar(&timeout, "timeout", 30*time.Second, "per-request timeout")
	f.StringVar(&output, "output", "", "write vegeta's results, JSON, to this file")
	return cmd
}

// resultsFile writes each result to path as vegeta's JSON results, which
// vegeta report and vegeta plot read; closing flushes and closes it.
func resultsFile(path string) (func(*vegeta.Result), func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, fmt.Errorf("--output: %w", err)
	}
	w := bufio.NewWriter(f)
	enc := vegeta.NewJSONEncoder(w)
	return func(r *vegeta.Result) { enc.Encode(r) }, func() { w.Flush(); f.Close() }, nil
}

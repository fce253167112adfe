// Command bench measures Custodia side by side with references taken in the
// same run on the same machine: physical limits (AES-256-GCM, SHA-256, a plain
// file copy, plain SQLite), a peer (Orthanc, when installed) and our own
// server under HTTP load from this second process on loopback. It prints one
// table (workload, our figure, the reference, the ratio) and writes it to
// bench/RESULTS.md.
//
//	go run ./bench          # full run, under 10 minutes
//	go run ./bench -quick   # smaller sizes and shorter loads, under 2 minutes
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Result is one row of the table.
type Result struct {
	Workload  string
	Ours      string
	Reference string
	Ratio     string
	Note      string
}

type config struct {
	quick bool
	out   string
	keep  bool
	work  string
	seed  uint64
	// loadStart is the load average when the run began.
	loadStart string
}

func main() {
	var c config
	flag.BoolVar(&c.quick, "quick", false, "small sizes and short loads (under 2 minutes)")
	flag.StringVar(&c.out, "out", "bench/RESULTS.md", "where to write the Markdown table ('' to skip)")
	flag.BoolVar(&c.keep, "keep", false, "keep the temporary work directory")
	flag.Uint64Var(&c.seed, "seed", 1, "seed of the synthetic data generator (same seed, same data)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	// The whole run is bounded even if a workload misbehaves.
	limit := 10 * time.Minute
	if c.quick {
		limit = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()

	work, err := os.MkdirTemp(".", ".bench-work-")
	if err != nil {
		fatal(err)
	}
	c.work, _ = filepath.Abs(work)
	if !c.keep {
		defer os.RemoveAll(c.work)
	}
	c.loadStart = loadAverage()
	start := time.Now()
	results, err := run(ctx, c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
	}
	table := render(results, c, time.Since(start))
	fmt.Print(table)
	if c.out != "" && len(results) > 0 {
		if err := os.WriteFile(c.out, []byte(table), 0o644); err != nil {
			fatal(err)
		}
		fmt.Println("\nwritten to", c.out)
	}
	if err != nil {
		os.Exit(1)
	}
}

func run(ctx context.Context, c config) ([]Result, error) {
	var out []Result
	add := func(rs ...Result) {
		for _, r := range rs {
			fmt.Fprintf(os.Stderr, "  %-44s ours %-22s ref %-22s ratio %s\n", r.Workload, r.Ours, r.Reference, r.Ratio)
		}
		out = append(out, rs...)
	}
	fmt.Fprintln(os.Stderr, "== physical limits and crypto")
	var ref refs
	add(cryptoRows(c, &ref)...)
	fmt.Fprintln(os.Stderr, "== disk and SQLite")
	rows, err := storageRows(ctx, c, &ref)
	add(rows...)
	if err != nil {
		return out, err
	}
	fmt.Fprintln(os.Stderr, "== the server under load")
	srv, err := startServer(ctx, c)
	if err != nil {
		return out, err
	}
	defer srv.stop()
	rows, err = serverRows(ctx, c, srv, &ref)
	add(rows...)
	return out, err
}

func render(rs []Result, c config, took time.Duration) string {
	var b strings.Builder
	host, _ := os.Hostname()
	mode := "full"
	if c.quick {
		mode = "quick"
	}
	fmt.Fprintf(&b, "# Benchmark results\n\n")
	fmt.Fprintf(&b, "- date: %s\n- commit: %s\n- machine: %d cores, %s memory, %s/%s (%s)\n- load average at the start: %s; at the end: %s\n- mode: %s, seed %d, took %s\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), commit(), runtime.NumCPU(), memTotal(), runtime.GOOS, runtime.GOARCH, host,
		c.loadStart, loadAverage(), mode, c.seed, took.Round(time.Second))
	b.WriteString("Ratios compare our figure with the reference measured in the same run; for throughput higher is better, for latency lower is better.\n")
	b.WriteString("The server runs as its own process (`custodia serve -demo`, SQLite, fresh data directory); the HTTP load comes from this harness, a second process, over loopback, so client and server share the cores.\n")
	b.WriteString("A load average above the core count means other work was loading the machine and the absolute figures are low; the ratios are still measured side by side.\n\n")
	b.WriteString("| workload | ours | reference | ratio | note |\n|---|---|---|---|---|\n")
	for _, r := range rs {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", r.Workload, r.Ours, r.Reference, r.Ratio, r.Note)
	}
	return b.String()
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

// loadAverage is the 1, 5 and 15 minute load average from /proc/loadavg.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], ", ")
}

// Command custodia is the Custodia server and its administration tools.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/app"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/config"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/keys"
	"github.com/custodia-health/custodia/internal/web"
)

// command is one subcommand: a one-line summary for --help and its runner.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{}

func init() {
	commands["serve"] = command{"run the server (the default when no command is given)", serve}
	commands["migrate"] = command{"apply pending database migrations and exit", migrate}
	commands["audit"] = command{"audit log: 'audit verify' checks the hash chain and the signed checkpoints", auditCmd}
	commands["access"] = command{"access matrix: print the role × action table the access policy implements", accessCmd}
	commands["version"] = command{"print the version", func(_ context.Context, _ []string, stdout, _ io.Writer) error {
		fmt.Fprintln(stdout, "custodia", app.Version)
		return nil
	}}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help") {
		usage(stdout)
		return 0
	}
	name := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "custodia: unknown command %q\n\n", name)
		usage(stderr)
		return 2
	}
	if err := c.run(ctx, args, stdout, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "custodia %s: %v\n", name, err)
		return 1
	}
	return 0
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Custodia keeps protected health information encrypted, access-controlled and audited.")
	fmt.Fprintln(w, "\nUsage: custodia [command] [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'custodia COMMAND -h' for a command's flags. Every flag can also be set with a CUSTODIA_* environment variable.")
}

// loadConfig parses the serve flags shared by the commands that open the store.
func loadConfig(name string, args []string, stderr io.Writer) (*config.Config, *flag.FlagSet, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := &config.Config{}
	cfg.Bind(fs)
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	return cfg, fs, nil
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, _, err := loadConfig("serve", args, stderr)
	if err != nil {
		return err
	}
	// Listen before anything is created, so a busy port fails a first start
	// without leaving a new master key or database behind.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is Custodia already running? choose another address with -addr 127.0.0.1:8081)", cfg.Addr, err)
	}
	defer ln.Close()
	log := app.NewLogger(cfg, os.Stderr)
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	janitorCtx, stopJanitor := context.WithCancel(ctx)
	defer stopJanitor() // runs before a.Close, which waits for it
	a.StartJanitor(janitorCtx)
	a.StartNoticeDelivery(janitorCtx)
	if cfg.Demo {
		if err := a.LoadDemo(ctx); err != nil {
			return fmt.Errorf("load demo data: %w", err)
		}
	}
	srv := web.HTTPServer(cfg.Addr, a.Handler, log)
	errc := make(chan error, 2)
	// Metrics need no sign-in, so they have a listener of their own that
	// config allows only on loopback; the main handler does not serve them.
	var metrics *http.Server
	if cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listen for metrics on %s: %w", cfg.MetricsAddr, err)
		}
		metrics = web.HTTPServer(cfg.MetricsAddr, a.Metrics, log)
		go func() { errc <- metrics.Serve(mln) }()
		log.Info("metrics are served on loopback", "addr", mln.Addr().String(), "path", "/metrics")
	}
	go func() {
		if cfg.TLSCert != "" {
			errc <- srv.ServeTLS(ln, cfg.TLSCert, cfg.TLSKey)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	log.Info("custodia is serving", "url", cfg.BaseURL, "addr", ln.Addr().String(), "database", a.DB.Dialect.Name, "version", app.Version)
	fmt.Fprintf(stdout, "Custodia is running at %s (press Ctrl+C to stop)\n", cfg.BaseURL)
	select {
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing requests in flight")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if metrics != nil {
		_ = metrics.Shutdown(shutdownCtx)
	}
	return srv.Shutdown(shutdownCtx)
}

func migrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, _, err := loadConfig("migrate", args, stderr)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return err
	}
	d, err := db.Open(ctx, cfg.DatabaseURL, cfg.DataDir)
	if err != nil {
		return err
	}
	defer d.Close()
	ms, _ := db.Migrations(d.Dialect)
	fmt.Fprintf(stdout, "database is at schema version %d (%s)\n", ms[len(ms)-1].Version, d.Dialect.Name)
	return nil
}

func accessCmd(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) != 1 || args[0] != "matrix" {
		fmt.Fprintln(stderr, "usage: custodia access matrix")
		return errors.New("unknown access subcommand")
	}
	return access.WriteMatrix(stdout)
}

// auditCmd runs "custodia audit verify": it re-reads the whole log, recomputes
// the chain and checks every checkpoint, and exits 1 at the first break.
func auditCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprintln(stderr, "usage: custodia audit verify [flags]")
		return errors.New("unknown audit subcommand")
	}
	cfg, _, err := loadConfig("audit verify", args[1:], stderr)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return err
	}
	d, err := db.Open(ctx, cfg.DatabaseURL, cfg.DataDir)
	if err != nil {
		return err
	}
	defer d.Close()
	master, _, err := keys.LoadOrCreateMaster(cfg.DataDir, cfg.MasterKey)
	if err != nil {
		return err
	}
	kr := keys.NewKeyring(d, master)
	if err := kr.VerifyMaster(ctx); err != nil {
		return fmt.Errorf("check master key: %w", err)
	}
	signer, err := app.AuditSigner(ctx, kr)
	if err != nil {
		return err
	}
	rep, err := audit.Verify(ctx, d, signer, audit.VerifyOptions{
		Witness: cfg.AuditWitness, MaxGap: audit.MaxCheckpointGap(audit.DefaultCheckpointEvery)})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "checked %d entries in %s (%.0f entries/s), %d signed checkpoints, head at seq %d\n",
		rep.Entries, rep.Duration.Round(time.Millisecond), rep.Rate(), rep.Checkpoints, rep.Head)
	if len(cfg.AuditWitness) == 0 {
		fmt.Fprintln(stdout, "no witness configured: the end of the log cut off together with its checkpoints cannot be seen")
	} else {
		fmt.Fprintf(stdout, "compared %d checkpoints with the witness %s\n", rep.Witnessed, strings.Join(cfg.AuditWitness, ", "))
	}
	switch {
	case rep.OK():
		fmt.Fprintln(stdout, "the audit log verifies")
		return nil
	case rep.BrokenSeq == 0:
		fmt.Fprintf(stdout, "BROKEN: %s\n", rep.Problem)
		return errors.New("the audit log does not verify")
	default:
		fmt.Fprintf(stdout, "BROKEN at entry %d: %s\n", rep.BrokenSeq, rep.Problem)
		return fmt.Errorf("the audit log does not verify: first break at entry %d", rep.BrokenSeq)
	}
}

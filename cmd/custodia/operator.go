package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/custodia-health/custodia/internal/app"
	"github.com/custodia-health/custodia/internal/config"
	"github.com/custodia-health/custodia/internal/identity"
)

func init() {
	commands["operator"] = command{"operator create EMAIL [-name NAME] [-password-stdin]: create a platform operator account (publishes the platform notice)", operatorCmd}
}

// stdin is the command's standard input, replaceable in tests.
var stdin io.Reader = os.Stdin

func operatorCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprintln(stderr, "usage: custodia operator create EMAIL [-name NAME] [-password-stdin] [server flags]")
		return errors.New("missing operator subcommand (want create)")
	}
	return operatorCreate(ctx, args[1:], stdout, stderr)
}

// operatorCreate creates the platform operator. The password never comes
// from the command line (argv is visible to other users of the machine and
// kept in shell history): with -password-stdin it is the first line of
// standard input, otherwise the command prints a one-time link, valid 24 h,
// on which the operator chooses it. Either way the operator enrols a second
// factor at first sign-in.
func operatorCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var email string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		email, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("operator create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "Platform operator", "the operator's name, shown in the page header and audit pages")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input instead of printing a set-password link")
	cfg, fs2, err := loadConfigWith(fs, args)
	if err != nil {
		return err
	}
	if email == "" && fs2.NArg() > 0 {
		email = fs2.Arg(0)
	}
	if email == "" {
		return errors.New("give the operator's email address: custodia operator create EMAIL")
	}
	var password string
	if *fromStdin {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read password from standard input: %w", err)
		}
		if password = strings.TrimRight(line, "\r\n"); password == "" {
			return errors.New("standard input held no password")
		}
	}
	a, err := app.New(ctx, cfg, app.NewLogger(cfg, os.Stderr))
	if err != nil {
		return err
	}
	defer a.Close()
	uid, link, err := a.Identity.CreateOperator(ctx, identity.OperatorInput{Email: email, Name: *name, Password: password},
		identity.Meta{ClientAddr: "console"})
	if err != nil {
		var ie *identity.Error
		if errors.As(err, &ie) {
			return errors.New(ie.Message)
		}
		return err
	}
	fmt.Fprintf(stdout, "Created operator account %s for %s.\n", uid, strings.ToLower(strings.TrimSpace(email)))
	if link != "" {
		fmt.Fprintf(stdout, "Open this link within 24 hours to choose the password (it works once):\n\n  %s\n\n", link)
	}
	fmt.Fprintln(stdout, "At first sign-in the operator sets up a second factor (an authenticator app), then publishes the platform privacy notice at /admin/notices.")
	return nil
}

// loadConfigWith is loadConfig on a flag set that already holds the
// command's own flags.
func loadConfigWith(fs *flag.FlagSet, args []string) (*config.Config, *flag.FlagSet, error) {
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

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/custodia-health/custodia/internal/app"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/keys"
)

func init() {
	commands["keys"] = command{"keys rotate | keys shred -patient ID -yes: rotate the master key, or destroy a patient's key", keysCmd}
}

func keysCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: custodia keys rotate [flags] | custodia keys shred -patient ID -yes [flags]")
		return errors.New("missing keys subcommand")
	}
	switch args[0] {
	case "rotate":
		return keysRotate(ctx, args[1:], stdout, stderr)
	case "shred":
		return keysShred(ctx, args[1:], stdout, stderr)
	}
	return fmt.Errorf("unknown keys subcommand %q (want rotate or shred)", args[0])
}

// keysRotate rewraps every workspace key under a new master key; no data is
// re-encrypted. With a key file, the new key is written beside the old one
// first (master.key.new), the database is rewrapped, then the new file
// replaces the old: if the command is interrupted after the rewrap,
// master.key.new is the key. With CUSTODIA_MASTER_KEY, the new key must be
// given in CUSTODIA_NEW_MASTER_KEY and the operator updates the environment.
func keysRotate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, _, err := loadConfig("keys rotate", args, stderr)
	if err != nil {
		return err
	}
	newEnv := os.Getenv("CUSTODIA_NEW_MASTER_KEY")
	if cfg.MasterKey != "" && newEnv == "" {
		return errors.New("the master key comes from CUSTODIA_MASTER_KEY, so give the new one in CUSTODIA_NEW_MASTER_KEY (custodia never prints keys)")
	}
	keyFile := filepath.Join(cfg.DataDir, keys.MasterKeyFile)
	if cfg.MasterKey == "" {
		if _, err := os.Stat(keyFile); err != nil {
			return fmt.Errorf("no master key file at %s: nothing to rotate", keyFile)
		}
	}
	var next *keys.Master
	var nextText string
	if newEnv != "" {
		if next, err = keys.ParseMaster(newEnv); err != nil {
			return fmt.Errorf("CUSTODIA_NEW_MASTER_KEY: %w", err)
		}
	} else {
		if nextText, err = keys.GenerateMasterString(); err != nil {
			return err
		}
		if next, err = keys.ParseMaster(nextText); err != nil {
			return err
		}
	}
	a, err := app.New(ctx, cfg, app.NewLogger(cfg, os.Stderr))
	if err != nil {
		return err
	}
	defer a.Close()
	pending := keyFile + ".new"
	if nextText != "" {
		if err := writeKeyFile(pending, nextText); err != nil {
			return err
		}
	}
	n, err := a.Keys.RotateMaster(ctx, next)
	if err != nil {
		if nextText != "" {
			os.Remove(pending)
		}
		return fmt.Errorf("rotate: %w (nothing changed)", err)
	}
	if nextText != "" {
		if err := os.Rename(pending, keyFile); err != nil {
			return fmt.Errorf("the database now uses the key in %s, but it could not replace %s: %w; move it into place by hand", pending, keyFile, err)
		}
		fmt.Fprintf(stdout, "Rewrapped %d workspace keys under a new master key, now in %s.\n", n, keyFile)
	} else {
		fmt.Fprintf(stdout, "Rewrapped %d workspace keys under the key in CUSTODIA_NEW_MASTER_KEY; set CUSTODIA_MASTER_KEY to it before the next start.\n", n)
	}
	fmt.Fprintln(stdout, "Back the new key up now. Backups taken before this rotation still need the old key.")
	return nil
}

func writeKeyFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.WriteString(text + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// keysShred destroys one patient's key: every field and file sealed with it
// becomes unrecoverable (crypto-shredding). It is recorded in the audit log.
func keysShred(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keys shred", flag.ContinueOnError)
	fs.SetOutput(stderr)
	patientID := fs.String("patient", "", "the patient id whose key to destroy")
	yes := fs.Bool("yes", false, "confirm: this cannot be undone")
	// The remaining flags are the server's (data directory, database).
	var rest []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-patient" || a == "--patient":
			if i+1 < len(args) {
				*patientID = args[i+1]
				i++
			}
		case a == "-yes" || a == "--yes":
			*yes = true
		default:
			rest = append(rest, a)
		}
	}
	if *patientID == "" {
		fs.Usage()
		return errors.New("give -patient ID")
	}
	if !*yes {
		return errors.New("destroying a patient's key makes all of their data unrecoverable; add -yes to confirm")
	}
	cfg, _, err := loadConfig("keys shred", rest, stderr)
	if err != nil {
		return err
	}
	a, err := app.New(ctx, cfg, app.NewLogger(cfg, os.Stderr))
	if err != nil {
		return err
	}
	defer a.Close()
	if _, err := a.Audit.Append(ctx, audit.Event{ActorUserID: "cli", ActorRole: "operator", Action: "patient.key_shred",
		ResourceType: "patient", ResourceID: *patientID, PatientID: *patientID, Purpose: "retention", Decision: "allow",
		Reason: "operator_command", Outcome: "success"}); err != nil {
		return fmt.Errorf("audit: %w (nothing destroyed)", err)
	}
	if err := a.Keys.ShredPatient(ctx, *patientID); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Destroyed the key of patient %s: their records and files can no longer be decrypted.\n", *patientID)
	fmt.Fprintf(stdout, "Servers sharing this database stop using a cached copy within %s.\n", keys.ShredCheckInterval)
	return nil
}

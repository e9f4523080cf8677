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
	"time"

	"github.com/goccy/go-yaml"

	"atlas11/control"
	"atlas11/control/bolt"
)

func writeYAML(w io.Writer, v any) error {
	out, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(out)
	return err
}

// backupCmd copies the database of a stopped server. A running server holds
// the file lock; operators then use the API's hot backup instead.
func backupCmd(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("atlas11 backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "", "data directory holding atlas11.db (default from config)")
	cfgFile := fs.String("config", "", "YAML config file")
	out := fs.String("out", "", "file to write the copy to (required)")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if *out == "" {
		return usageError{"backup: --out is required"}
	}
	var cargs []string
	if *cfgFile != "" {
		cargs = append(cargs, "--config", *cfgFile)
	}
	if *data != "" {
		cargs = append(cargs, "--data", *data)
	}
	cfg, err := loadConfig("backup", cargs, getenv, stderr)
	if err != nil {
		return err
	}
	if _, err := os.Stat(cfg.DBPath()); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	db, err := bolt.Open(cfg.DBPath(), bolt.Options{Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("backup: %w (a running server holds the file: use GET /api/v1/admin/backup)", err)
	}
	defer db.Close()
	f, err := os.OpenFile(*out, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	n, err := db.Backup(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(*out)
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(stdout, "backup: wrote %d bytes to %s\n", n, *out)
	return nil
}

// operatorCreate adds an operator account: operators are never created
// through the public API.
func operatorCreate(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("atlas11 operator create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	email := fs.String("email", "", "operator e-mail (required)")
	name := fs.String("name", "", "display name (required)")
	data := fs.String("data", "", "data directory (default from config)")
	cfgFile := fs.String("config", "", "YAML config file")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input (else ATLAS11_OPERATOR_PASSWORD)")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if *email == "" || *name == "" {
		return usageError{"operator create: --email and --name are required"}
	}
	password := getenv("ATLAS11_OPERATOR_PASSWORD")
	if *fromStdin {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("operator create: read password: %w", err)
		}
		password = strings.TrimRight(line, "\r\n")
	}
	if len(password) < 10 {
		return usageError{"operator create: the password must have at least 10 characters (--password-stdin or ATLAS11_OPERATOR_PASSWORD)"}
	}
	var cargs []string
	if *cfgFile != "" {
		cargs = append(cargs, "--config", *cfgFile)
	}
	if *data != "" {
		cargs = append(cargs, "--data", *data)
	}
	cfg, err := loadConfig("operator create", cargs, getenv, stderr)
	if err != nil {
		return err
	}
	p, err := newPlatform(cfg, stderr, false)
	if err != nil {
		return err
	}
	defer p.close()
	hash, err := hashPassword(password)
	if err != nil {
		return err
	}
	u, err := p.svc.CreateOperator(ctx, control.NewUser{Email: *email, Name: *name, PasswordHash: hash})
	if err != nil {
		return fmt.Errorf("operator create: %w", err)
	}
	fmt.Fprintf(stdout, "operator created: %s <%s>\n", u.ID, u.Email)
	return nil
}

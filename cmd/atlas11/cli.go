package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
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

// backupCmd writes a consistent copy of the database. With --url it asks a
// running server for a hot backup (bbolt Tx.WriteTo) as an operator;
// without, it opens the file of a stopped server.
func backupCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("atlas11 backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "", "data directory holding atlas11.db (default from config)")
	cfgFile := fs.String("config", "", "YAML config file")
	out := fs.String("out", "", "file to write the copy to (required; must not exist)")
	url := fs.String("url", "", "base URL of a running server, e.g. http://127.0.0.1:8080 (hot backup)")
	email := fs.String("email", "", "operator e-mail for --url (password in ATLAS11_OPERATOR_PASSWORD)")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if *out == "" {
		return usageError{"backup: --out is required"}
	}
	f, err := os.OpenFile(*out, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	var n int64
	if *url != "" {
		if *email == "" {
			err = usageError{"backup: --url needs --email and ATLAS11_OPERATOR_PASSWORD"}
		} else {
			n, err = remoteBackup(ctx, *url, *email, getenv("ATLAS11_OPERATOR_PASSWORD"), f)
		}
	} else {
		n, err = localBackup(*cfgFile, *data, getenv, stderr, f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(*out)
		return err
	}
	fmt.Fprintf(stdout, "backup: wrote %d bytes to %s\n", n, *out)
	return nil
}

func localBackup(cfgFile, data string, getenv func(string) string, stderr io.Writer, w io.Writer) (int64, error) {
	var cargs []string
	if cfgFile != "" {
		cargs = append(cargs, "--config", cfgFile)
	}
	if data != "" {
		cargs = append(cargs, "--data", data)
	}
	cfg, err := loadConfig("backup", cargs, getenv, stderr)
	if err != nil {
		return 0, err
	}
	if _, err := os.Stat(cfg.DBPath()); err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	db, err := bolt.Open(cfg.DBPath(), bolt.Options{Timeout: time.Second})
	if err != nil {
		return 0, fmt.Errorf("backup: %w (a running server holds the file: use --url)", err)
	}
	defer db.Close()
	n, err := db.Backup(w)
	if err != nil {
		return n, fmt.Errorf("backup: %w", err)
	}
	return n, nil
}

func remoteBackup(ctx context.Context, base, email, password string, w io.Writer) (int64, error) {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 10 * time.Minute}
	base = strings.TrimRight(base, "/")
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/api/v1/auth/signin", bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", base)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("backup: sign in: %w", err)
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("backup: sign in: %s %s", resp.Status, msg)
	}
	req, err = http.NewRequestWithContext(ctx, "GET", base+"/api/v1/operator/backup", nil)
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	resp, err = hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("backup: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return 0, fmt.Errorf("backup: %s %s", resp.Status, msg)
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("backup: download: %w", err)
	}
	return n, nil
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
	if err := checkNewPassword(password, *email, *name); err != nil {
		return usageError{"operator create: " + err.Error() + " (--password-stdin or ATLAS11_OPERATOR_PASSWORD)"}
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

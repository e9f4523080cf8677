package main

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"

	"atlas11/control"
	"atlas11/control/notify"
)

// MailSettings is how notices (confirmations, reminders, receipts) leave
// the platform. Without smtp_host nothing is sent: notices stay in the
// outbox, where operators read them (GET /api/v1/operator/notices).
type MailSettings struct {
	SMTPHost string `yaml:"smtp_host"` // empty: no mail server
	SMTPPort int    `yaml:"smtp_port"`
	TLS      string `yaml:"tls"` // starttls (required), tls (implicit, port 465) or none (loopback relays only)
	Username string `yaml:"username"`
	Password string `yaml:"password" redact:"true"`
	From     string `yaml:"from"`
	// BaseURL is the public origin the links in e-mails point to; empty:
	// https://<first tls.domains> with HTTPS, else http://<http.addr>.
	BaseURL string `yaml:"base_url"`
}

func defaultMailSettings() MailSettings {
	return MailSettings{SMTPPort: 587, TLS: notify.TLSStartTLS, From: "Atlas11 <no-reply@atlas11.invalid>"}
}

func (c *Config) validateMail() error {
	m := c.Mail
	if m.BaseURL != "" {
		u, err := url.Parse(m.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return fmt.Errorf("config: mail.base_url %q must be an origin such as https://atlas11.example", m.BaseURL)
		}
	}
	if m.SMTPHost == "" {
		return nil
	}
	if _, err := mail.ParseAddress(m.From); err != nil {
		return fmt.Errorf("config: mail.from %q: %v", m.From, err)
	}
	if m.TLS == notify.TLSNone {
		if ip := net.ParseIP(m.SMTPHost); m.SMTPHost != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return errors.New("config: mail.tls none sends passwords and messages in clear: only for a relay on loopback")
		}
	}
	if err := m.smtp().Validate(); err != nil {
		return errors.New("config: mail." + strings.TrimPrefix(err.Error(), "smtp."))
	}
	return nil
}

func (m MailSettings) smtp() notify.SMTPConfig {
	return notify.SMTPConfig{Host: m.SMTPHost, Port: m.SMTPPort, TLS: m.TLS, Username: m.Username,
		Password: m.Password, From: m.From}
}

// baseURL is the origin of the links in e-mails.
func (c *Config) baseURL() string {
	if c.Mail.BaseURL != "" {
		return strings.TrimRight(c.Mail.BaseURL, "/")
	}
	if c.TLS.On() && len(c.TLS.Domains) > 0 {
		host := c.TLS.Domains[0]
		if _, port, err := net.SplitHostPort(c.HTTP.Addr); err == nil && port != "443" && port != "" {
			host = net.JoinHostPort(host, port)
		}
		return "https://" + host
	}
	host, port, _ := net.SplitHostPort(c.HTTP.Addr)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	if p, _ := strconv.Atoi(port); p == 0 {
		port = "8080"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// mailer is the notices' sender, or nil without a mail server, and their
// renderer (for the operator's preview, with or without a server).
func (c *Config) mailer() (control.Mailer, *notify.Renderer, error) {
	r, err := notify.NewRenderer(c.baseURL(), addrOnly(c.Mail.From))
	if err != nil {
		return nil, nil, err
	}
	if c.Mail.SMTPHost == "" {
		return nil, r, nil
	}
	m, err := notify.NewSMTP(c.Mail.smtp(), r)
	return m, r, err
}

func addrOnly(from string) string {
	if a, err := mail.ParseAddress(from); err == nil {
		return a.Address
	}
	return from
}

package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	"atlas11/control"

	"github.com/wneessen/go-mail"
)

// TLS modes of an SMTP relay.
const (
	TLSStartTLS = "starttls" // plain connection upgraded with STARTTLS, required (port 587)
	TLSImplicit = "tls"      // TLS from the first byte (port 465)
	TLSNone     = "none"     // no TLS: a relay on loopback only
)

// SMTPConfig is how to reach the mail relay.
type SMTPConfig struct {
	Host     string
	Port     int
	TLS      string // TLSStartTLS (default), TLSImplicit or TLSNone
	Username string // empty: no authentication
	Password string
	From     string        // e.g. "Atlas11 <no-reply@atlas11.example>"
	Timeout  time.Duration // per delivery (default 30 s)
	// RootCAs trusts another CA than the system's (tests, private relays).
	TLSConfig *tls.Config
}

// Validate names the first bad field.
func (c SMTPConfig) Validate() error {
	switch {
	case c.Host == "":
		return errors.New("smtp.host is required")
	case c.Port <= 0 || c.Port > 65535:
		return errors.New("smtp.port must be between 1 and 65535")
	case c.TLS != "" && c.TLS != TLSStartTLS && c.TLS != TLSImplicit && c.TLS != TLSNone:
		return fmt.Errorf("smtp.tls must be %q, %q or %q", TLSStartTLS, TLSImplicit, TLSNone)
	case c.From == "":
		return errors.New("smtp.from is required")
	case (c.Username == "") != (c.Password == ""):
		return errors.New("smtp.username and smtp.password go together")
	}
	return nil
}

// SMTP sends notices through a relay; it implements control.Mailer.
type SMTP struct {
	cfg  SMTPConfig
	r    *Renderer
	host string // the Message-ID's right-hand side
}

// NewSMTP returns a sender through cfg, rendering with r.
func NewSMTP(cfg SMTPConfig, r *Renderer) (*SMTP, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	host := "atlas11"
	if _, domain, ok := strings.Cut(addrOf(cfg.From), "@"); ok && domain != "" {
		host = domain
	}
	return &SMTP{cfg: cfg, r: r, host: host}, nil
}

func addrOf(from string) string {
	if i := strings.LastIndex(from, "<"); i >= 0 {
		return strings.TrimSuffix(from[i+1:], ">")
	}
	return from
}

// MessageID is the stable Message-ID of a notice: a resend after a crash
// carries the same one, so a receiving server can tell the duplicate.
func (s *SMTP) MessageID(n control.Notice) string { return n.ID + "@" + s.host }

// Send renders n and hands it to the relay. A 5xx answer is permanent
// (control.ErrMailPermanent); anything else (4xx, no connection) is
// temporary and retried by the caller.
func (s *SMTP) Send(ctx context.Context, n control.Notice) error {
	msg, err := s.r.Render(n)
	if err != nil {
		return fmt.Errorf("%w: %v", control.ErrMailPermanent, err)
	}
	m := mail.NewMsg()
	if err := m.From(s.cfg.From); err != nil {
		return fmt.Errorf("%w: from: %v", control.ErrMailPermanent, err)
	}
	if err := m.AddToFormat(n.Name, n.Email); err != nil {
		return fmt.Errorf("%w: to: %v", control.ErrMailPermanent, err)
	}
	m.Subject(msg.Subject)
	m.SetMessageIDWithValue(s.MessageID(n))
	m.SetDateWithValue(n.CreatedAt)
	m.SetGenHeader(mail.HeaderContentLang, n.Locale)
	m.SetGenHeader("Auto-Submitted", "auto-generated")
	m.SetBodyString(mail.TypeTextPlain, msg.Text)
	m.AddAlternativeString(mail.TypeTextHTML, msg.HTML)
	if msg.ICS != nil {
		// Calendar apps act on the text/calendar alternative; the file is
		// for the others.
		m.AddAlternativeString(mail.ContentType("text/calendar; method="+msg.Method), string(msg.ICS))
		m.AttachReadSeeker("invite.ics", bytes.NewReader(msg.ICS),
			mail.WithFileContentType(mail.ContentType("application/ics")))
	}
	c, err := s.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	if err := c.DialAndSendWithContext(ctx, m); err != nil {
		var se *mail.SendError
		if errors.As(err, &se) && se.ErrorCode() >= 500 && se.ErrorCode() < 600 {
			return fmt.Errorf("%w: %v", control.ErrMailPermanent, err)
		}
		return err
	}
	return nil
}

func (s *SMTP) client() (*mail.Client, error) {
	opts := []mail.Option{mail.WithPort(s.cfg.Port), mail.WithTimeout(s.cfg.Timeout)}
	switch s.cfg.TLS {
	case TLSImplicit:
		opts = append(opts, mail.WithSSL())
	case TLSNone:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	}
	if s.cfg.TLSConfig != nil {
		opts = append(opts, mail.WithTLSConfig(s.cfg.TLSConfig))
	}
	if s.cfg.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover),
			mail.WithUsername(s.cfg.Username), mail.WithPassword(s.cfg.Password))
	}
	c, err := mail.NewClient(s.cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: smtp client: %v", control.ErrMailPermanent, err)
	}
	return c, nil
}

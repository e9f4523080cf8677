package main

import (
	"fmt"
	"time"

	"atlas11/sfu"
	"atlas11/turn"
)

// SFUConfig is the media server's section of the config file.
type SFUConfig struct {
	UDPPort         int           `yaml:"udp_port"`         // one UDP port for all peers (ICE UDP mux)
	TCPPort         int           `yaml:"tcp_port"`         // ICE-TCP fallback; -1 disables
	ListenIP        string        `yaml:"listen_ip"`        // empty: all addresses
	PublicIPs       []string      `yaml:"public_ips"`       // announced instead of local addresses (1:1 NAT)
	IncludeLoopback bool          `yaml:"include_loopback"` // offer loopback candidates (single-host set-ups)
	ReconnectGrace  time.Duration `yaml:"reconnect_grace"`  // a lost participant keeps their place this long
	MaxParticipants int           `yaml:"max_participants"` // most guests a room carries; bounds rules.media_server_max
	ChatRate        float64       `yaml:"chat_rate"`        // chat messages a second per participant
	ChatBurst       int           `yaml:"chat_burst"`       // chat messages a participant may send at once
}

// TURNConfig is the embedded relay's section; see turn.Config for each key.
type TURNConfig struct {
	Enabled                bool          `yaml:"enabled"`
	ListenAddress          string        `yaml:"listen_address"`
	Port                   int           `yaml:"port"`
	TLSPort                int           `yaml:"tls_port"`
	CertFile               string        `yaml:"cert_file"`
	KeyFile                string        `yaml:"key_file"`
	Realm                  string        `yaml:"realm"`
	RelayAddress           string        `yaml:"relay_address"`
	PublicHost             string        `yaml:"public_host"`
	RelayPortMin           int           `yaml:"relay_port_min"`
	RelayPortMax           int           `yaml:"relay_port_max"`
	Secret                 string        `yaml:"secret" redact:"true"` // empty: generated into secrets.json
	PreviousSecrets        []string      `yaml:"previous_secrets" redact:"true"`
	CredentialTTL          time.Duration `yaml:"credential_ttl"`
	AllowPeers             []string      `yaml:"allow_peers"`
	MaxAllocationsPerUser  int           `yaml:"max_allocations_per_user"`
	MaxAllocations         int           `yaml:"max_allocations"`
	MaxAllocationLifetime  time.Duration `yaml:"max_allocation_lifetime"`
	BandwidthPerAllocation int           `yaml:"bandwidth_per_allocation"` // bytes/s, each direction
}

func defaultSFUConfig() SFUConfig {
	return SFUConfig{
		UDPPort:         50000,
		TCPPort:         50001,
		ListenIP:        "127.0.0.1",
		IncludeLoopback: true,
		ReconnectGrace:  5 * time.Second,
		MaxParticipants: 49,
		ChatRate:        5,
		ChatBurst:       10,
	}
}

// defaultTURNConfig keeps the embedded default on loopback like the rest;
// an operator sets listen_address, relay_address and public_host to go public.
func defaultTURNConfig() TURNConfig {
	d := turn.DefaultConfig()
	return TURNConfig{
		Enabled:       true,
		ListenAddress: "127.0.0.1",
		Port:          d.Port,
		TLSPort:       d.TLSPort,
		Realm:         d.Realm,
		RelayAddress:  "127.0.0.1",
		// Kept below the SFU's ports (50000, 50001) so neither takes the other's.
		RelayPortMin:           49152,
		RelayPortMax:           49999,
		CredentialTTL:          d.CredentialTTL,
		MaxAllocationsPerUser:  d.MaxAllocationsPerUser,
		MaxAllocations:         d.MaxAllocations,
		MaxAllocationLifetime:  d.MaxAllocationLifetime,
		BandwidthPerAllocation: d.BandwidthPerAllocation,
	}
}

func (c SFUConfig) toSFU() sfu.Config {
	return sfu.Config{
		UDPPort:         c.UDPPort,
		TCPPort:         c.TCPPort,
		ListenIP:        c.ListenIP,
		PublicIPs:       c.PublicIPs,
		IncludeLoopback: c.IncludeLoopback,
		ReconnectGrace:  c.ReconnectGrace,
		MaxParticipants: c.MaxParticipants,
		ChatRate:        c.ChatRate,
		ChatBurst:       c.ChatBurst,
	}
}

// mediaIPs are the addresses browsers reach the SFU on: the relay may reach
// exactly these.
func (c SFUConfig) mediaIPs() []string {
	ips := append([]string(nil), c.PublicIPs...)
	if c.ListenIP != "" && c.ListenIP != "0.0.0.0" && c.ListenIP != "::" {
		ips = append(ips, c.ListenIP)
	}
	return ips
}

// mediaPorts are the SFU's own ports, the only ones a relay may reach on
// its addresses: the bound UDP port and ICE-TCP port (tcp is 0 when ICE-TCP
// is off).
type mediaPorts struct{ udp, tcp int }

func (p mediaPorts) lists() (udp, tcp []int) {
	if p.udp > 0 {
		udp = []int{p.udp}
	}
	if p.tcp > 0 {
		tcp = []int{p.tcp}
	}
	return udp, tcp
}

func (c TURNConfig) toTURN(secret string, media []string, ports mediaPorts) turn.Config {
	udp, tcp := ports.lists()
	if c.Secret != "" {
		secret = c.Secret
	}
	return turn.Config{
		ListenAddress:          c.ListenAddress,
		Port:                   c.Port,
		TLSPort:                c.TLSPort,
		CertFile:               c.CertFile,
		KeyFile:                c.KeyFile,
		Realm:                  c.Realm,
		RelayAddress:           c.RelayAddress,
		PublicHost:             c.PublicHost,
		RelayPortMin:           c.RelayPortMin,
		RelayPortMax:           c.RelayPortMax,
		Secret:                 secret,
		PreviousSecrets:        c.PreviousSecrets,
		CredentialTTL:          c.CredentialTTL,
		MediaIPs:               media,
		MediaUDPPorts:          udp,
		MediaTCPPorts:          tcp,
		AllowPeers:             c.AllowPeers,
		MaxAllocationsPerUser:  c.MaxAllocationsPerUser,
		MaxAllocations:         c.MaxAllocations,
		MaxAllocationLifetime:  c.MaxAllocationLifetime,
		BandwidthPerAllocation: c.BandwidthPerAllocation,
	}
}

func (c *Config) validateMedia() error {
	// The SFU fills its own defaults and validates its section when it starts.
	if c.SFU.UDPPort < 0 || c.SFU.UDPPort > 65535 {
		return fmt.Errorf("config: sfu.udp_port %d is not a port", c.SFU.UDPPort)
	}
	if c.SFU.MaxParticipants < 1 {
		return fmt.Errorf("config: sfu.max_participants must be at least 1")
	}
	if !(c.SFU.ChatRate > 0) || c.SFU.ChatBurst < 1 {
		return fmt.Errorf("config: sfu.chat_rate must be above 0 and sfu.chat_burst at least 1 (got %v and %d)", c.SFU.ChatRate, c.SFU.ChatBurst)
	}
	if c.Rules.MediaServerMax > c.SFU.MaxParticipants {
		return fmt.Errorf("config: rules.media_server_max (%d) exceeds sfu.max_participants (%d): events may never hold more than the media server carries (EVT-2)", c.Rules.MediaServerMax, c.SFU.MaxParticipants)
	}
	if c.TURN.Enabled {
		// The secret may still be generated; validate with a placeholder.
		// The SFU's ports may be 0 (picked at start); validate with placeholders.
		if err := c.TURN.toTURN("placeholder-secret-0123456789", c.SFU.mediaIPs(), mediaPorts{udp: 1, tcp: 1}).Validate(); err != nil {
			return fmt.Errorf("config: %w", err)
		}
	}
	return nil
}

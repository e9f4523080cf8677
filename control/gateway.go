package control

import (
	"context"
	"sync"
)

// Gateway collects and sends money in the outside world. Every call carries
// an idempotency key: a repeat with the same key returns the first answer and
// moves no money again.
type Gateway interface {
	Charge(ctx context.Context, req ChargeRequest) (GatewayResult, error)
	Refund(ctx context.Context, req RefundRequest) (GatewayResult, error)
	Payout(ctx context.Context, req PayoutRequest) (GatewayResult, error)
}

// ChargeRequest takes money from a client.
type ChargeRequest struct {
	Key         string
	CustomerID  string
	AmountCents int64
	Currency    string
	Description string
}

// RefundRequest returns part of a charge to a client.
type RefundRequest struct {
	Key         string
	ChargeID    string
	CustomerID  string
	AmountCents int64
	Currency    string
}

// PayoutRequest sends money to an expert.
type PayoutRequest struct {
	Key         string
	ExpertID    string
	AmountCents int64
	Currency    string
	Billing     BillingDetails
}

// GatewayResult is the provider's answer.
type GatewayResult struct {
	ID string
}

// GatewayCall is one call recorded by SandboxGateway.
type GatewayCall struct {
	Op          string // charge, refund, payout
	Key         string
	AccountID   string // customer or expert
	AmountCents int64
	ID          string
}

// SandboxGateway is the embedded default: it moves no real money and records
// distinct calls in memory. Safe for concurrent use. Memory stays bounded in
// a long run: it remembers the last sandboxMaxKeys idempotency keys (retries
// come within minutes) and the last sandboxMaxCalls calls.
type SandboxGateway struct {
	mu      sync.Mutex
	byKey   map[string]GatewayResult
	keys    []string // FIFO of byKey's keys, for eviction
	calls   []GatewayCall
	decline map[string]bool
}

const (
	sandboxMaxKeys  = 200_000
	sandboxMaxCalls = 50_000
)

// NewSandboxGateway returns an empty sandbox.
func NewSandboxGateway() *SandboxGateway {
	return &SandboxGateway{byKey: map[string]GatewayResult{}, decline: map[string]bool{}}
}

// SetDecline makes charges to customerID fail (card declined) or succeed.
func (g *SandboxGateway) SetDecline(customerID string, decline bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.decline[customerID] = decline
}

// Calls returns a copy of the recorded calls, in order.
func (g *SandboxGateway) Calls() []GatewayCall {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]GatewayCall(nil), g.calls...)
}

func (g *SandboxGateway) do(op, key, account string, amount int64) (GatewayResult, error) {
	if key == "" {
		return GatewayResult{}, Errorf(Invalid, "idempotency_key_required", "gateway %s needs an idempotency key", op)
	}
	if amount <= 0 {
		return GatewayResult{}, Errorf(Invalid, "invalid_amount", "gateway %s amount must be positive", op)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if r, ok := g.byKey[op+"/"+key]; ok {
		return r, nil
	}
	if op == "charge" && g.decline[account] {
		return GatewayResult{}, Errorf(Rule, "payment_declined", "the payment was declined")
	}
	r := GatewayResult{ID: op + "_" + newID()}
	g.byKey[op+"/"+key] = r
	g.keys = append(g.keys, op+"/"+key)
	if len(g.keys) > sandboxMaxKeys { // evict the older half at once: amortized O(1)
		half := len(g.keys) / 2
		for _, k := range g.keys[:half] {
			delete(g.byKey, k)
		}
		g.keys = append([]string(nil), g.keys[half:]...)
	}
	g.calls = append(g.calls, GatewayCall{Op: op, Key: key, AccountID: account, AmountCents: amount, ID: r.ID})
	if len(g.calls) > sandboxMaxCalls {
		g.calls = append([]GatewayCall(nil), g.calls[len(g.calls)-sandboxMaxCalls/2:]...)
	}
	return r, nil
}

// Charge implements Gateway.
func (g *SandboxGateway) Charge(_ context.Context, req ChargeRequest) (GatewayResult, error) {
	return g.do("charge", req.Key, req.CustomerID, req.AmountCents)
}

// Refund implements Gateway.
func (g *SandboxGateway) Refund(_ context.Context, req RefundRequest) (GatewayResult, error) {
	return g.do("refund", req.Key, req.CustomerID, req.AmountCents)
}

// Payout implements Gateway.
func (g *SandboxGateway) Payout(_ context.Context, req PayoutRequest) (GatewayResult, error) {
	return g.do("payout", req.Key, req.ExpertID, req.AmountCents)
}

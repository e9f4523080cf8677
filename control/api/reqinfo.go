package api

import "context"

// RequestInfo links the binary's access log to the API: the binary names
// each request before the API runs (ID, also sent as X-Request-ID), and the
// API fills in the route template it matched, for a log line that carries
// the same ID as the error body and the API's own error log.
type RequestInfo struct {
	ID    string
	Route string // e.g. /api/v1/bookings/:id; "" until the API has routed it
}

type requestInfoKey struct{}

// WithRequestInfo returns ctx carrying info for the API to use and fill.
func WithRequestInfo(ctx context.Context, info *RequestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, info)
}

func requestInfoOf(ctx context.Context) *RequestInfo {
	info, _ := ctx.Value(requestInfoKey{}).(*RequestInfo)
	return info
}

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Server metrics the tool reads before and after the measurement.
const (
	mCPU          = "process_cpu_seconds_total"
	mEgress       = "atlas11_sfu_packets_out_total"
	mIngress      = "atlas11_sfu_packets_in_total"
	mDropped      = "atlas11_sfu_packets_dropped_total"
	mSwitches     = "atlas11_sfu_layer_switches_total"
	mNACKs        = "atlas11_sfu_nacks_total"
	mRetransmits  = "atlas11_sfu_retransmits_total"
	mPLIs         = "atlas11_sfu_plis_sent_total"
	mLatencyBkt   = "atlas11_sfu_forward_latency_seconds_bucket"
	mJoinFirstBkt = "atlas11_sfu_join_to_first_packet_seconds_bucket"
)

// metricsSnap is one scrape: label-less samples by name, and histogram
// buckets by name then upper bound.
type metricsSnap struct {
	values  map[string]float64
	buckets map[string]map[float64]float64
}

func scrape(ctx context.Context, client *http.Client, url string) (metricsSnap, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return metricsSnap{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return metricsSnap{}, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return metricsSnap{}, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	return parseMetrics(io.LimitReader(resp.Body, 16<<20))
}

// parseMetrics reads the Prometheus text format, keeping what the report needs.
func parseMetrics(r io.Reader) (metricsSnap, error) {
	s := metricsSnap{values: map[string]float64{}, buckets: map[string]map[float64]float64{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, labels, rest := line, "", ""
		if i := strings.IndexByte(line, '{'); i >= 0 {
			j := strings.LastIndexByte(line, '}')
			if j < i {
				continue
			}
			name, labels, rest = line[:i], line[i+1:j], strings.TrimSpace(line[j+1:])
		} else if f := strings.Fields(line); len(f) >= 2 {
			name, rest = f[0], f[1]
		} else {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		if strings.HasSuffix(name, "_bucket") {
			le, ok := labelValue(labels, "le")
			if !ok {
				continue
			}
			ub, err := strconv.ParseFloat(le, 64)
			if err != nil {
				continue
			}
			if s.buckets[name] == nil {
				s.buckets[name] = map[float64]float64{}
			}
			s.buckets[name][ub] += v
			continue
		}
		s.values[name] += v
	}
	return s, sc.Err()
}

func labelValue(labels, key string) (string, bool) {
	for _, part := range strings.Split(labels, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && k == key {
			return strings.Trim(v, `"`), true
		}
	}
	return "", false
}

// delta is after - before for one sample.
func delta(before, after metricsSnap, name string) float64 {
	return after.values[name] - before.values[name]
}

// histQuantile estimates quantile q of what a histogram observed between two
// scrapes, interpolating linearly inside the bucket like PromQL does. It
// returns NaN without observations and +Inf when the quantile lies above the
// largest finite bucket.
func histQuantile(before, after metricsSnap, name string, q float64) float64 {
	a := after.buckets[name]
	if len(a) == 0 {
		return math.NaN()
	}
	ubs := make([]float64, 0, len(a))
	for ub := range a {
		ubs = append(ubs, ub)
	}
	sort.Float64s(ubs)
	total := a[ubs[len(ubs)-1]] - before.buckets[name][ubs[len(ubs)-1]]
	if total <= 0 {
		return math.NaN()
	}
	rank := q * total
	prevUB, prevCount := 0.0, 0.0
	for _, ub := range ubs {
		c := a[ub] - before.buckets[name][ub]
		if c >= rank {
			if math.IsInf(ub, 1) {
				return math.Inf(1) // above the largest bucket: only a lower bound is known
			}
			if c == prevCount {
				return ub
			}
			return prevUB + (ub-prevUB)*(rank-prevCount)/(c-prevCount)
		}
		prevUB, prevCount = ub, c
	}
	return prevUB
}

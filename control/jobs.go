package control

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"sort"
	"strings"
	"time"
	"unicode"
)

// A background job that fails does so on its own: it is retried with
// back-off and, after maxJobAttempts, dead-lettered for an operator to retry
// or resolve, while every other job goes on. Without this, one damaged
// record made every run of the queue stop at the same job, payouts included.
const (
	maxJobAttempts = 8
	jobBackoffBase = time.Minute
	jobBackoffMax  = 6 * time.Hour
)

// FailedJob is a background job that failed at least once and has not
// succeeded since.
type FailedJob struct {
	// ID names the job in the operator API: opaque, URL-safe and stable
	// across attempts.
	ID            string    `json:"id"`
	Kind          string    `json:"kind"`
	Target        string    `json:"target"` // the booking, event, session or expert/day it works on
	Attempts      int       `json:"attempts"`
	LastError     string    `json:"last_error"`
	FirstFailedAt time.Time `json:"first_failed_at"`
	LastFailedAt  time.Time `json:"last_failed_at"`
	// NextAttempt is when it runs again; zero once dead-lettered.
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	Dead        bool      `json:"dead"`
}

// JobStats summarises the background queue for monitoring.
type JobStats struct {
	Due        int           // jobs queued, due now or later
	Overdue    int           // jobs whose time has come
	OldestDue  time.Duration // how long the oldest overdue job has waited
	Retrying   int           // failed jobs waiting for their next attempt
	DeadLetter int           // failed jobs waiting for an operator
}

// jobID encodes a job's queue name (kind/target), which may hold any bytes
// (a session's key is a hash), for a URL.
func jobID(kind, target string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + "/" + target))
}

// jobKey is the failure record's key for an API job ID.
func jobKey(id string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil || !strings.Contains(string(b), "/") {
		return "", false
	}
	return string(b), true
}

// shownTarget is a target as an operator may read it: binary keys (hashes)
// in hex.
func shownTarget(target string) string {
	for _, r := range target {
		if r == unicode.ReplacementChar || !unicode.IsPrint(r) {
			return hex.EncodeToString([]byte(target))
		}
	}
	return target
}

func backoff(attempts int) time.Duration {
	d := jobBackoffBase << min(attempts-1, 20)
	return min(d, jobBackoffMax)
}

// jobFailed records a failed attempt of the queued job at key, in its own
// transaction (the job's own one rolled back): the queue entry moves to the
// next attempt, or the job is dead-lettered.
func (s *Service) jobFailed(now time.Time, key string, cause error) {
	kind, id, _ := strings.Cut(key[8:], "/")
	var fj FailedJob
	fresh := FailedJob{ID: jobID(kind, id), Kind: kind, Target: shownTarget(id), FirstFailedAt: now}
	err := s.update(func(tx Tx) error {
		fj = fresh
		if _, err := getJSON(tx, bJobFail, kind+"/"+id, &fj); err != nil {
			fj = fresh // a damaged record restarts the count
		}
		fj.Attempts++
		fj.LastError, fj.LastFailedAt = truncate(cause.Error(), 500), now
		if err := tx.Delete(bDue, []byte(key)); err != nil {
			return err
		}
		if fj.Attempts >= maxJobAttempts {
			fj.Dead, fj.NextAttempt = true, time.Time{}
		} else {
			fj.Dead, fj.NextAttempt = false, now.Add(backoff(fj.Attempts))
			if err := addDue(tx, fj.NextAttempt, kind, id); err != nil {
				return err
			}
		}
		return putJSON(tx, bJobFail, kind+"/"+id, fj)
	})
	if err != nil {
		// The store itself fails: the entry stays queued and the next run
		// tries again, which is all that can be done.
		s.log.Error("background job failed and its failure could not be recorded", "job", fresh.ID, "kind", kind, "err", cause, "record_err", err)
		return
	}
	if fj.Dead {
		s.log.Error("background job dead-lettered: an operator must retry or resolve it", "job", fj.ID, "kind", kind, "attempts", fj.Attempts, "err", cause)
	} else {
		s.log.Warn("background job failed, will retry", "job", fj.ID, "kind", kind, "attempt", fj.Attempts, "next", fj.NextAttempt, "err", cause)
	}
}

// jobSucceeded forgets a job's past failures, in the job's own transaction.
func jobSucceeded(tx Tx, kind, id string) error {
	if tx.Get(bJobFail, []byte(kind+"/"+id)) == nil {
		return nil
	}
	return tx.Delete(bJobFail, []byte(kind+"/"+id))
}

// FailedJobs lists the jobs that failed and have not succeeded since,
// dead-lettered ones first (operators only).
func (s *Service) FailedJobs(ctx context.Context, operatorID string) ([]FailedJob, error) {
	out := []FailedJob{}
	err := s.view(func(tx Tx) error {
		if _, err := actor(tx, operatorID, RoleOperator); err != nil {
			return err
		}
		return tx.Scan(bJobFail, nil, nil, func(k, v []byte) error {
			var fj FailedJob
			if err := json.Unmarshal(v, &fj); err != nil {
				kind, target, _ := strings.Cut(string(k), "/")
				fj = FailedJob{ID: jobID(kind, target), Kind: kind, Target: shownTarget(target),
					LastError: "unreadable failure record", Dead: true}
			}
			out = append(out, fj)
			return nil
		})
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].Dead && !out[j].Dead })
	return out, err
}

// RetryJob queues a failed job to run now with a fresh series of attempts.
func (s *Service) RetryJob(ctx context.Context, operatorID, id string) (FailedJob, error) {
	var fj FailedJob
	err := s.update(func(tx Tx) error {
		key, err := loadFailedJob(tx, operatorID, id, &fj)
		if err != nil {
			return err
		}
		kind, target, _ := strings.Cut(key, "/")
		now := s.clock.Now()
		if !fj.NextAttempt.IsZero() {
			if err := delDue(tx, fj.NextAttempt, kind, target); err != nil {
				return err
			}
		}
		fj.Attempts, fj.Dead, fj.NextAttempt = 0, false, now
		if err := addDue(tx, now, kind, target); err != nil {
			return err
		}
		return putJSON(tx, bJobFail, key, fj)
	})
	return fj, err
}

// ResolveJob drops a failed job: the operator has handled it by other
// means. Its queue entry, if any, goes with it.
func (s *Service) ResolveJob(ctx context.Context, operatorID, id string) error {
	return s.update(func(tx Tx) error {
		var fj FailedJob
		key, err := loadFailedJob(tx, operatorID, id, &fj)
		if err != nil {
			return err
		}
		kind, target, _ := strings.Cut(key, "/")
		if !fj.NextAttempt.IsZero() {
			if err := delDue(tx, fj.NextAttempt, kind, target); err != nil {
				return err
			}
		}
		return tx.Delete(bJobFail, []byte(key))
	})
}

// loadFailedJob reads the failure record of an API job ID into fj and
// returns its key. A record too damaged to read is still found, so that an
// operator can resolve it.
func loadFailedJob(tx Tx, operatorID, id string, fj *FailedJob) (string, error) {
	if _, err := actor(tx, operatorID, RoleOperator); err != nil {
		return "", err
	}
	key, ok := jobKey(id)
	if !ok || tx.Get(bJobFail, []byte(key)) == nil {
		return "", Errorf(NotFound, "job_not_found", "no such failed job")
	}
	kind, target, _ := strings.Cut(key, "/")
	if _, err := getJSON(tx, bJobFail, key, fj); err != nil {
		*fj = FailedJob{Dead: true, LastError: "unreadable failure record"}
	}
	fj.ID, fj.Kind, fj.Target = id, kind, shownTarget(target)
	return key, nil
}

// JobStats reads the queue's depth and age and the failed jobs' count.
func (s *Service) JobStats(ctx context.Context) (JobStats, error) {
	now := s.clock.Now()
	var st JobStats
	err := s.view(func(tx Tx) error {
		cut := ts(now.Add(time.Second))
		if err := tx.Scan(bDue, nil, nil, func(k, _ []byte) error {
			st.Due++
			if string(k[:8]) < cut {
				if st.Overdue == 0 {
					st.OldestDue = max(now.Sub(time.Unix(int64(binary.BigEndian.Uint64(k[:8])), 0)), 0)
				}
				st.Overdue++
			}
			return nil
		}); err != nil {
			return err
		}
		return tx.Scan(bJobFail, nil, nil, func(_, v []byte) error {
			var fj FailedJob
			if json.Unmarshal(v, &fj) != nil || fj.Dead {
				st.DeadLetter++
			} else {
				st.Retrying++
			}
			return nil
		})
	})
	if err != nil {
		return st, internal(err)
	}
	return st, nil
}

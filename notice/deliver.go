package notice

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Headers of a webhook delivery.
const (
	SignatureHeader = "X-Gateway-Signature" // detached JWS over the body, seal key (docs/notices.md)
	NoticeIDHeader  = "X-Gateway-Notice-Id" // the notice id: receivers drop repeats with it
)

// Deliver posts the notices that are due to their consumers' webhooks, once each: a 2xx
// answer delivers, anything else is retried with doubling back-off until MaxAttempts.
// Delivery is at least once: a receiver that answered but whose answer was lost gets the
// notice again, with the same id.
func (s *Service) Deliver(ctx context.Context) int {
	due, err := s.o.DB.Due(ctx, s.o.Now(), 50)
	if err != nil {
		if ctx.Err() == nil {
			s.o.Log.Warn("notice delivery: reading the queue failed", "err", err)
		}
		return 0
	}
	delivered := 0
	for _, n := range due {
		if ctx.Err() != nil {
			break
		}
		err := s.post(ctx, n)
		now := s.o.Now()
		attempts := n.Attempts + 1
		status, next, msg := Delivered, now, ""
		if err != nil {
			msg = err.Error()
			status, next = Pending, now.Add(s.backoff(attempts))
			if attempts >= s.o.MaxAttempts {
				status = Failed
			}
			s.o.Log.Warn("notice not delivered", "notice", n.ID, "consumer", n.Consumer, "attempt", attempts, "final", status == Failed, "err", err)
		} else {
			delivered++
		}
		if err := s.o.DB.Attempted(ctx, n.ID, status, attempts, next, now, msg); err != nil && err != errAlreadyDone {
			s.o.Log.Warn("notice delivery not recorded; it will be sent again", "notice", n.ID, "err", err)
		}
	}
	return delivered
}

// backoff is the wait before attempt n+1: BaseBackoff doubled per failed attempt, at most
// MaxBackoff.
func (s *Service) backoff(attempts int) time.Duration {
	d := s.o.BaseBackoff
	for i := 1; i < attempts && d < s.o.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, s.o.MaxBackoff)
}

// post sends one notice to its consumer's webhook, within 10 seconds.
func (s *Service) post(ctx context.Context, n Notice) error {
	c := s.o.Consumer(n.Consumer)
	if c == nil || c.Webhook == "" {
		return fmt.Errorf("consumer %s has no webhook any more", n.Consumer)
	}
	// What leaves is what the policy opens to the watcher now, not when it was queued.
	var b Body
	if err := json.Unmarshal(n.Body, &b); err != nil {
		return fmt.Errorf("the stored notice does not decode: %w", err)
	}
	if !s.asNow(s.watcherCaller(n.Consumer), &b, s.o.Now()) {
		return fmt.Errorf("withheld: the policy no longer lets %s learn of this change", n.Consumer)
	}
	body, err := json.Marshal(b)
	if err != nil {
		return err
	}
	sig, err := s.o.Signer.Sign(body)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Webhook, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, sig)
	req.Header.Set(NoticeIDHeader, n.ID)
	res, err := s.o.Client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return fmt.Errorf("webhook answered %s", res.Status)
	}
	return nil
}

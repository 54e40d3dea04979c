package chat

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cutover-dev/cutover/notify"
	"github.com/cutover-dev/cutover/rollout"
	"github.com/cutover-dev/cutover/spec"
	"github.com/cutover-dev/cutover/state"
)

// MaxSkew is how far a request's timestamp may be from now, as Slack
// advises, so that a captured request cannot be replayed later.
const MaxSkew = 5 * time.Minute

// maxBody bounds a command's form; Slack's are a few hundred bytes.
const maxBody = 64 << 10

// Plans are the plans the commands act on: rollout.Manager.
type Plans interface {
	Get(name string) *rollout.Engine
	Views() []rollout.View
}

// Slack serves a Slack slash command. Set Config before serving and on
// every reload (SetConfig); Now is the clock.
type Slack struct {
	plans Plans
	audit func(state.Event)
	log   *slog.Logger
	Now   func() time.Time

	mu     sync.Mutex
	secret []byte
	allow  []spec.ChatGrant
	// seen holds the signatures of the last MaxSkew: the same request a
	// second time is a replay, even within the window.
	seen map[string]time.Time
}

// NewSlack returns the endpoint; audit records refused commands (the
// plans record the ones they carry out).
func NewSlack(plans Plans, audit func(state.Event), log *slog.Logger) *Slack {
	return &Slack{plans: plans, audit: audit, log: log, Now: time.Now, seen: map[string]time.Time{}}
}

// SetConfig takes the signing secret and the grants of a (re)loaded config.
func (s *Slack) SetConfig(secret []byte, allow []spec.ChatGrant) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secret, s.allow = secret, allow
}

// response is Slack's message format for a command's answer.
type response struct {
	ResponseType string `json:"response_type"` // ephemeral: only the caller sees it
	Text         string `json:"text"`
}

func (s *Slack) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST a Slack slash command here", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	if err := s.verify(r.Header.Get("X-Slack-Request-Timestamp"), r.Header.Get("X-Slack-Signature"), body); err != nil {
		// Not Slack, or not this app: no Slack message, nothing said.
		s.log.Warn("slack command refused", "err", err, "peer", r.RemoteAddr)
		http.Error(w, "request signature: "+err.Error(), http.StatusUnauthorized)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		writeSlack(w, "ephemeral", "cutover could not read the command: "+err.Error())
		return
	}
	user, channel := form.Get("user_id"), form.Get("channel_id")
	actor := "slack:" + user
	if name := form.Get("user_name"); name != "" {
		actor += " (" + name + ")"
	}
	args := strings.Fields(form.Get("text"))
	if len(args) == 0 || !slices.Contains(spec.ChatCommands, args[0]) {
		writeSlack(w, "ephemeral", usage)
		return
	}
	cmd := args[0]
	if !s.allowed(cmd, user, channel) {
		s.audit(state.Event{Actor: actor, Action: "chat.refused", Target: strings.Join(args[1:], " "), Reason: fmt.Sprintf("%s is not allowed to %s in channel %s", user, cmd, channel)})
		writeSlack(w, "ephemeral", fmt.Sprintf("You may not run `%s` here. Ask an admin to add your user ID (%s) or this channel (%s) to spec.chat.slack.allow.", cmd, user, channel))
		return
	}
	kind, text := s.run(r.Context(), cmd, args[1:], actor)
	writeSlack(w, kind, text)
}

const usage = "Usage: `/cutover status [ROLLOUT]`, `/cutover promote [--full] ROLLOUT`, `/cutover abort|pause|resume|retry ROLLOUT [reason]`"

// verify checks Slack's v0 signature: HMAC-SHA256 of "v0:timestamp:body"
// with the signing secret, a fresh timestamp, and no replay.
func (s *Slack) verify(ts, sig string, body []byte) error {
	if ts == "" || sig == "" {
		return errors.New("missing X-Slack-Request-Timestamp or X-Slack-Signature")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("X-Slack-Request-Timestamp is not a Unix time")
	}
	now := s.Now()
	if d := now.Sub(time.Unix(sec, 0)); d > MaxSkew || d < -MaxSkew {
		return fmt.Errorf("timestamp is %v from now, more than %v", d.Round(time.Second), MaxSkew)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	mac := hmac.New(sha256.New, s.secret)
	fmt.Fprintf(mac, "v0:%s:", ts)
	mac.Write(body)
	want := "v0=" + hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return errors.New("signature does not match")
	}
	for k, at := range s.seen {
		if now.Sub(at) > 2*MaxSkew {
			delete(s.seen, k)
		}
	}
	if _, dup := s.seen[sig]; dup {
		return errors.New("replayed: this request was already taken")
	}
	s.seen[sig] = now
	return nil
}

// allowed reports whether a grant gives cmd to the user or the channel.
func (s *Slack) allowed(cmd, user, channel string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.allow {
		if len(g.Commands) > 0 && !slices.Contains(g.Commands, cmd) {
			continue
		}
		if user != "" && slices.Contains(g.Users, user) || channel != "" && slices.Contains(g.Channels, channel) {
			return true
		}
	}
	return false
}

// run carries out a command; errors are answered to the caller alone,
// changes to the channel.
func (s *Slack) run(ctx context.Context, cmd string, args []string, actor string) (kind, text string) {
	full := false
	if cmd == "promote" && len(args) > 0 && args[0] == "--full" {
		full, args = true, args[1:]
	}
	if cmd == "status" && len(args) == 0 {
		views := s.plans.Views()
		if len(views) == 0 {
			return "ephemeral", "No plans."
		}
		lines := make([]string, len(views))
		for i, v := range views {
			lines[i] = describe(v)
		}
		return "ephemeral", strings.Join(lines, "\n")
	}
	if len(args) == 0 {
		return "ephemeral", usage
	}
	name, reason := args[0], strings.Join(args[1:], " ")
	e := s.plans.Get(name)
	if e == nil {
		var names []string
		for _, v := range s.plans.Views() {
			names = append(names, v.Name)
		}
		return "ephemeral", notify.SlackEscape(fmt.Sprintf("No rollout %q (the rollouts are %s).", name, strings.Join(names, ", ")))
	}
	if reason == "" {
		reason = "from Slack by " + actor
	}
	var err error
	switch cmd {
	case "status":
		return "ephemeral", describe(e.View())
	case "promote":
		err = e.Promote(ctx, full, false, actor, reason)
	case "abort":
		err = e.Abort(ctx, actor, reason)
	case "pause":
		err = e.Pause(ctx, actor, reason)
	case "resume":
		err = e.Resume(ctx, actor, reason)
	case "retry":
		err = e.Retry(ctx, actor, reason)
	}
	if err != nil {
		return "ephemeral", fmt.Sprintf("`%s %s` refused: %s", cmd, name, notify.SlackEscape(err.Error()))
	}
	return "in_channel", fmt.Sprintf("%s ran `%s %s`. %s", actor, cmd, name, describe(e.View()))
}

// describe is a plan in one line.
func describe(v rollout.View) string {
	st := v.State
	s := fmt.Sprintf("*%s*: %s, step %d of %d, canary at %d%%", notify.SlackEscape(v.Name), st.Phase, st.Step, len(v.Steps), st.Weight)
	if st.Reason != "" {
		s += " (" + notify.SlackEscape(st.Reason) + ")"
	}
	return s
}

func writeSlack(w http.ResponseWriter, kind, text string) {
	// Slack shows any answer but a 200 as a failure of the app itself.
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(response{ResponseType: kind, Text: text})
}

package chat_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cutover-dev/cutover/chat"
	"github.com/cutover-dev/cutover/internal/testenv"
	"github.com/cutover-dev/cutover/rollout"
	"github.com/cutover-dev/cutover/server"
	"github.com/cutover-dev/cutover/state"
)

// Slack's own example from "Verifying requests from Slack": this secret,
// timestamp and body give this signature.
const (
	docSecret    = "8f742231b10e8888abcd99yyyzzz85a5"
	docTimestamp = "1531420618"
	docBody      = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	docSignature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
)

func TestSlacksDocumentedExampleVerifies(t *testing.T) {
	s := chat.NewSlack(nil, func(state.Event) {}, slog.New(slog.DiscardHandler))
	s.SetConfig([]byte(docSecret), nil)
	sec, _ := strconv.ParseInt(docTimestamp, 10, 64)
	s.Now = func() time.Time { return time.Unix(sec, 0).Add(time.Minute) }
	for _, tc := range []struct {
		desc, sig string
		code      int
	}{
		{"the documented signature", docSignature, http.StatusOK},
		{"the same request again", docSignature, http.StatusUnauthorized},
		{"one hex digit changed", docSignature[:len(docSignature)-1] + "4", http.StatusUnauthorized},
	} {
		req := httptest.NewRequest(http.MethodPost, "/chat/slack", strings.NewReader(docBody))
		req.Header.Set("X-Slack-Request-Timestamp", docTimestamp)
		req.Header.Set("X-Slack-Signature", tc.sig)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != tc.code {
			t.Errorf("%s: %d %s, want %d", tc.desc, w.Code, w.Body, tc.code)
		}
	}
}

// slackEnv is `cutover serve` with a plan paused for promotion and a
// Slack command endpoint.
type slackEnv struct {
	t      *testing.T
	srv    *server.Server
	store  *state.Store
	url    string
	secret string
}

func newSlackEnv(t *testing.T, ownListener bool) *slackEnv {
	t.Helper()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(backend.Close)
	dir := t.TempDir()
	secret := "s3cr3t-signing"
	os.WriteFile(filepath.Join(dir, "slack-secret"), []byte(secret+"\n"), 0o600)
	address := ""
	if ownListener {
		address = "address: \"127.0.0.1:0\"\n      "
	}
	cfg := fmt.Sprintf(`apiVersion: cutover.dev/v1alpha1
kind: Gateway
metadata: {name: t}
spec:
  listeners: [{address: "127.0.0.1:0"}]
  admin: {address: "127.0.0.1:0"}
  drainDelay: 0s
  chat:
    slack:
      %ssigningSecretFile: %s
      allow:
      - {commands: [status, promote], users: [U1]}
      - {channels: [COPS]}
  backends:
  - {name: legacy, endpoints: [%[3]s]}
  - {name: new, endpoints: [%[3]s]}
  routes:
  - name: web
    backends: [{name: legacy, weight: 100}, {name: new, weight: 0}]
`+testenv.WebPlan+`      - setWeight: 10
      - pause: {}
      - setWeight: 50
      - pause: {}
`, address, filepath.Join(dir, "slack-secret"), backend.URL)
	file := filepath.Join(dir, "cutover.yaml")
	os.WriteFile(file, []byte(cfg), 0o600)
	store, err := state.Open(filepath.Join(dir, "state"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, []string{file}, store, "admin-token", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Gateway.Run(ctx, srv.Admin) }()
	t.Cleanup(func() { cancel(); <-done; store.Close() })
	<-srv.Gateway.Started()
	srv.Rollouts.Get("web").Tick(ctx)
	addr := srv.Gateway.Addr("admin")
	if ownListener {
		addr = srv.Gateway.Addr("chat")
	}
	return &slackEnv{t: t, srv: srv, store: store, url: "http://" + addr + "/chat/slack", secret: secret}
}

// post sends a slash command signed as Slack signs it, at ts.
func (v *slackEnv) post(ts time.Time, user, channel, text string, sign func(base string) string) (int, map[string]string) {
	v.t.Helper()
	body := url.Values{
		"token": {"ignored"}, "team_id": {"T1"}, "channel_id": {channel}, "channel_name": {"ops"},
		"user_id": {user}, "user_name": {strings.ToLower(user)}, "command": {"/cutover"}, "text": {text},
		"response_url": {"https://hooks.slack.com/commands/T1/1/x"},
	}.Encode()
	stamp := strconv.FormatInt(ts.Unix(), 10)
	if sign == nil {
		sign = v.sign
	}
	req, _ := http.NewRequest(http.MethodPost, v.url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", stamp)
	req.Header.Set("X-Slack-Signature", sign("v0:"+stamp+":"+body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		v.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	out := map[string]string{}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(data, &out); err != nil {
			v.t.Fatalf("not Slack's response format: %s", data)
		}
	}
	return resp.StatusCode, out
}

func (v *slackEnv) sign(base string) string {
	mac := hmac.New(sha256.New, []byte(v.secret))
	mac.Write([]byte(base))
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

func (v *slackEnv) plan() rollout.State { return v.srv.Rollouts.Get("web").View().State }

func (v *slackEnv) lastEvent() state.Event {
	evs, err := v.store.LastEvents(1)
	if err != nil || len(evs) == 0 {
		v.t.Fatalf("audit log: %v %v", evs, err)
	}
	return evs[0]
}

func TestSlackCommands(t *testing.T) {
	for _, own := range []bool{false, true} {
		t.Run(map[bool]string{false: "on the admin listener", true: "on its own listener"}[own], func(t *testing.T) {
			v := newSlackEnv(t, own)
			now := time.Now()
			if st := v.plan(); st.Phase != rollout.Paused || st.Step != 1 {
				t.Fatalf("plan at %s step %d, want paused at 1", st.Phase, st.Step)
			}

			// Not from Slack: nothing runs, and Slack's format is not used.
			for _, tc := range []struct {
				desc string
				ts   time.Time
				sign func(string) string
			}{
				{"a bad signature", now, func(string) string { return "v0=" + strings.Repeat("0", 64) }},
				{"signed with another secret", now, func(b string) string {
					mac := hmac.New(sha256.New, []byte("other"))
					mac.Write([]byte(b))
					return "v0=" + hex.EncodeToString(mac.Sum(nil))
				}},
				{"a timestamp six minutes old", now.Add(-6 * time.Minute), nil},
				{"a timestamp six minutes ahead", now.Add(6 * time.Minute), nil},
			} {
				if code, _ := v.post(tc.ts, "U1", "CDEV", "promote web", tc.sign); code != http.StatusUnauthorized {
					t.Errorf("%s: %d, want 401", tc.desc, code)
				}
			}
			if st := v.plan(); st.Step != 1 {
				t.Fatalf("an unverified command moved the plan to step %d", st.Step)
			}

			// A user not granted abort, outside the ops channel.
			code, resp := v.post(now, "U1", "CDEV", "abort web", nil)
			if code != 200 || resp["response_type"] != "ephemeral" || !strings.Contains(resp["text"], "may not run `abort`") {
				t.Fatalf("abort by U1: %d %v", code, resp)
			}
			if ev := v.lastEvent(); ev.Action != "chat.refused" || ev.Actor != "slack:U1 (u1)" {
				t.Errorf("refusal not in the audit log: %+v", ev)
			}
			code, resp = v.post(now, "U9", "CDEV", "status web", nil)
			if code != 200 || resp["response_type"] != "ephemeral" || !strings.Contains(resp["text"], "may not run `status`") {
				t.Fatalf("status by U9: %d %v", code, resp)
			}

			// U1 may promote: the plan moves, the channel is told, the audit
			// log names the Slack user.
			code, resp = v.post(now, "U1", "CDEV", "promote web", nil)
			if code != 200 || resp["response_type"] != "in_channel" || !strings.Contains(resp["text"], "slack:U1 (u1) ran `promote web`") {
				t.Fatalf("promote by U1: %d %v", code, resp)
			}
			v.srv.Rollouts.Get("web").Tick(context.Background())
			if st := v.plan(); st.Phase != rollout.Paused || st.Step != 3 || st.Weight != 50 {
				t.Fatalf("after promote: %s step %d weight %d", st.Phase, st.Step, st.Weight)
			}
			evs, _ := v.store.LastEvents(10)
			found := false
			for _, ev := range evs {
				found = found || ev.Action == "rollout.step" && ev.Actor == "slack:U1 (u1)"
			}
			if !found {
				t.Errorf("the promotion is not in the audit log as U1's: %+v", evs)
			}

			// Anyone in the ops channel may do anything: U9 aborts there.
			code, resp = v.post(now.Add(time.Second), "U9", "COPS", "abort web bad latency", nil)
			if code != 200 || resp["response_type"] != "in_channel" {
				t.Fatalf("abort in COPS: %d %v", code, resp)
			}
			if st := v.plan(); st.Phase != rollout.Aborted || st.Weight != 0 || st.Reason != "bad latency" {
				t.Fatalf("after abort: %s weight %d (%s)", st.Phase, st.Weight, st.Reason)
			}

			// A refused command is answered to the caller alone, with why.
			code, resp = v.post(now.Add(2*time.Second), "U1", "CDEV", "promote web", nil)
			if code != 200 || resp["response_type"] != "ephemeral" || !strings.Contains(resp["text"], "refused: ") || !strings.Contains(resp["text"], "aborted") {
				t.Fatalf("promote after abort: %d %v", code, resp)
			}
			code, resp = v.post(now.Add(3*time.Second), "U1", "CDEV", "status nope", nil)
			if code != 200 || resp["response_type"] != "ephemeral" || !strings.Contains(resp["text"], `No rollout "nope" (the rollouts are web)`) {
				t.Fatalf("status of an unknown plan: %d %v", code, resp)
			}
			code, resp = v.post(now.Add(4*time.Second), "U1", "CDEV", "deploy web", nil)
			if code != 200 || resp["response_type"] != "ephemeral" || !strings.Contains(resp["text"], "Usage:") {
				t.Fatalf("an unknown command: %d %v", code, resp)
			}
		})
	}
}

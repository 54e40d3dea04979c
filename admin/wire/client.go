package wire

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// HeaderActor names who made a change; the CLI sends user@host.
const HeaderActor = "X-Cutover-Actor"

// Client calls a gateway's admin API: the CLI, and plans that move other
// gateway replicas, use it.
type Client struct {
	// Base is the API's URL, e.g. http://127.0.0.1:9190.
	Base  string
	Token string
	// Actor names the caller in the audit log.
	Actor string
	HTTP  *http.Client
}

// Do sends body as JSON (when not nil) and decodes a JSON answer into out
// (when not nil). A non-2xx answer is an error with the API's message,
// the field it names and, for a refused config, every problem.
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.Base, "/")+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if c.Actor != "" {
		req.Header.Set(HeaderActor, c.Actor)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("admin API %s: %w", c.Base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error    string   `json:"error"`
			Field    string   `json:"field"`
			Problems []string `json:"problems"`
		}
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			return fmt.Errorf("admin API %s: %s: %s", c.Base, resp.Status, bytes.TrimSpace(data))
		}
		msg := e.Error
		if e.Field != "" {
			msg = e.Field + ": " + msg
		}
		if len(e.Problems) > 0 {
			msg += "\n" + strings.Join(e.Problems, "\n")
		}
		return fmt.Errorf("%s (%s)", msg, resp.Status)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

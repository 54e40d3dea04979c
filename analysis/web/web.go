package web

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"k8s.io/client-go/util/jsonpath"

	"github.com/cutover-dev/cutover/analysis"
	"github.com/cutover-dev/cutover/spec"
)

// maxBody bounds what is read of an answer: a metric is a small document.
const maxBody = 10 << 20

var (
	plain    = &http.Transport{Proxy: http.ProxyFromEnvironment}
	insecure = &http.Transport{Proxy: http.ProxyFromEnvironment, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
)

// Provider measures web metrics.
type Provider struct{}

// Measure implements analysis.Provider with Argo's rules: a non-2xx answer
// is an error; an answer that is not JSON is a success with the body as
// its value; otherwise the first value at the JSONPath is the result.
func (Provider) Measure(ctx context.Context, m *spec.Metric, _ time.Time, _ analysis.Sides) (analysis.Measurement, any, error) {
	w := m.Provider.Web
	method := w.Method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	contentType := ""
	switch {
	case w.Body != "":
		body = bytes.NewReader([]byte(w.Body))
	case w.JSONBody != nil:
		var v any
		if err := w.JSONBody.Decode(&v); err != nil {
			return analysis.Measurement{}, nil, fmt.Errorf("jsonBody: %w", err)
		}
		b, err := json.Marshal(v)
		if err != nil {
			return analysis.Measurement{}, nil, fmt.Errorf("jsonBody: %w", err)
		}
		body, contentType = bytes.NewReader(b), "application/json"
	}
	timeout := 10 * time.Second
	if w.TimeoutSeconds > 0 {
		timeout = time.Duration(w.TimeoutSeconds) * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, w.URL, body)
	if err != nil {
		return analysis.Measurement{}, nil, err
	}
	for _, h := range w.Headers {
		req.Header.Set(h.Key, h.Value)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	client := &http.Client{Transport: plain}
	if w.Insecure {
		client.Transport = insecure
	}
	resp, err := client.Do(req)
	if err != nil {
		return analysis.Measurement{}, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return analysis.Measurement{}, nil, fmt.Errorf("received non 2xx response code: %d", resp.StatusCode)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return analysis.Measurement{}, nil, err
	}
	var data any
	if json.Unmarshal(raw, &data) != nil {
		return analysis.Measurement{At: time.Now(), Phase: analysis.Successful, Value: string(raw)}, nil, nil
	}
	path := w.JSONPath
	if path == "" {
		path = "{$}"
	}
	jp := jsonpath.New("web")
	if err := jp.Parse(path); err != nil {
		return analysis.Measurement{}, nil, fmt.Errorf("jsonPath: %w", err)
	}
	results, err := jp.FindResults(data)
	if err != nil {
		return analysis.Measurement{}, nil, fmt.Errorf("could not find JSONPath in body: %w", err)
	}
	for _, rs := range results {
		for _, r := range rs {
			return analysis.Measurement{At: time.Now(), Phase: analysis.Running}, r.Interface(), nil
		}
	}
	return analysis.Measurement{}, nil, errors.New("result of web metric produced no value")
}

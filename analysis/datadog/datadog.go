package datadog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/cutover-dev/cutover/analysis"
	"github.com/cutover-dev/cutover/spec"
)

// DefaultAddress is Datadog's US1 site, Argo's default.
const DefaultAddress = "https://api.datadoghq.com"

// Provider queries Datadog. Keys and site are read from the environment
// when empty, as Argo's environment finder does (DD_API_KEY, DD_APP_KEY,
// DD_ADDRESS).
type Provider struct {
	Address, APIKey, AppKey string
	// Now is the end of the queried window; time.Now when nil.
	Now func() time.Time
}

func (p Provider) credentials() (address, apiKey, appKey string, err error) {
	address, apiKey, appKey = p.Address, p.APIKey, p.AppKey
	if apiKey == "" && appKey == "" {
		apiKey, appKey = os.Getenv("DD_API_KEY"), os.Getenv("DD_APP_KEY")
		if address == "" {
			address = os.Getenv("DD_ADDRESS")
		}
	}
	if address == "" {
		address = DefaultAddress
	}
	if apiKey == "" || appKey == "" {
		return "", "", "", errors.New("failed to find the credentials for datadog metrics provider: set DD_API_KEY and DD_APP_KEY")
	}
	return address, apiKey, appKey, nil
}

// Measure implements analysis.Provider. result is the query's value, or
// nil when Datadog has no data for the window (isNil and default see it).
func (p Provider) Measure(ctx context.Context, m *spec.Metric, _ time.Time, _ analysis.Sides) (analysis.Measurement, any, error) {
	dd := m.Provider.Datadog
	address, apiKey, appKey, err := p.credentials()
	if err != nil {
		return analysis.Measurement{}, nil, err
	}
	now := time.Now()
	if p.Now != nil {
		now = p.Now()
	}
	to := now.Unix()
	from := to - int64(dd.Interval.D().Seconds())
	var req *http.Request
	if dd.APIVersion == "v2" {
		req, err = v2Request(ctx, address, dd, from, to)
	} else {
		u := address + "/api/v1/query?" + url.Values{
			"query": {dd.Query}, "from": {strconv.FormatInt(from, 10)}, "to": {strconv.FormatInt(to, 10)},
		}.Encode()
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	}
	if err != nil {
		return analysis.Measurement{}, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("DD-API-KEY", apiKey)
	req.Header.Set("DD-APPLICATION-KEY", appKey)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		return analysis.Measurement{}, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 10<<20))
	if err != nil {
		return analysis.Measurement{}, nil, err
	}
	switch {
	case resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized:
		return analysis.Measurement{}, nil, fmt.Errorf("received authentication error response code: %d %s", resp.StatusCode, body)
	case resp.StatusCode != http.StatusOK:
		return analysis.Measurement{}, nil, fmt.Errorf("received non 2xx response code: %d %s", resp.StatusCode, body)
	}
	var value *float64
	if dd.APIVersion == "v2" {
		value, err = parseV2(body)
	} else {
		value, err = parseV1(body)
	}
	if err != nil {
		return analysis.Measurement{}, nil, err
	}
	running := analysis.Measurement{At: time.Now(), Phase: analysis.Running}
	if value == nil {
		return running, nil, nil
	}
	return running, *value, nil
}

func v2Request(ctx context.Context, address string, dd *spec.DatadogProvider, from, to int64) (*http.Request, error) {
	queries := dd.Queries
	if dd.Query != "" {
		queries = map[string]string{"query": dd.Query}
	}
	aggregator := dd.Aggregator
	if aggregator == "" {
		aggregator = "last"
	}
	type query struct {
		Aggregator string `json:"aggregator"`
		DataSource string `json:"data_source"`
		Name       string `json:"name"`
		Query      string `json:"query"`
	}
	var qs []query
	for _, name := range slices.Sorted(maps.Keys(queries)) {
		qs = append(qs, query{aggregator, "metrics", name, queries[name]})
	}
	formulas := []map[string]string{}
	if dd.Formula != "" {
		formulas = append(formulas, map[string]string{"formula": dd.Formula})
	}
	var payload struct {
		Data struct {
			Type       string `json:"type"`
			Attributes struct {
				From     int64               `json:"from"`
				To       int64               `json:"to"`
				Queries  []query             `json:"queries"`
				Formulas []map[string]string `json:"formulas"`
			} `json:"attributes"`
		} `json:"data"`
	}
	payload.Data.Type = "scalar_request"
	a := &payload.Data.Attributes
	a.From, a.To, a.Queries, a.Formulas = from*1000, to*1000, qs, formulas
	b, err := json.Marshal(payload)
	if err != nil {
		return nil, err
	}
	return http.NewRequestWithContext(ctx, http.MethodPost, address+"/api/v2/query/scalar", bytes.NewReader(b))
}

// parseV1 is the last point of the first series.
func parseV1(body []byte) (*float64, error) {
	var res struct {
		Series []struct {
			Pointlist [][]*float64 `json:"pointlist"`
		} `json:"series"`
	}
	if err := json.Unmarshal(body, &res); err != nil {
		return nil, fmt.Errorf("could not parse JSON body: %w", err)
	}
	if len(res.Series) == 0 || len(res.Series[0].Pointlist) == 0 {
		return nil, nil
	}
	points := res.Series[0].Pointlist
	last := points[len(points)-1]
	if len(last) != 2 {
		return nil, errors.New("datapoint does not have 2 values")
	}
	return last[1], nil
}

// parseV2 is the first value of the first column.
func parseV2(body []byte) (*float64, error) {
	var res struct {
		Data struct {
			Attributes struct {
				Columns []struct {
					Values []*float64 `json:"values"`
				} `json:"columns"`
			} `json:"attributes"`
			Errors string `json:"errors"` // where Argo reads it
		} `json:"data"`
		Errors string `json:"errors"` // where Datadog's reference puts it
	}
	if err := json.Unmarshal(body, &res); err != nil {
		return nil, fmt.Errorf("could not parse JSON body: %w", err)
	}
	if e := res.Errors + res.Data.Errors; e != "" {
		return nil, fmt.Errorf("there were errors in your query: %s", e)
	}
	cols := res.Data.Attributes.Columns
	if len(cols) == 0 || len(cols[0].Values) == 0 {
		return nil, nil
	}
	return cols[0].Values[0], nil
}

package wire

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"
)

// ErrorResponse is the body of every admin API error.
type ErrorResponse struct {
	Error string `json:"error"`
	// Field names the parameter at fault, when one is.
	Field string `json:"field,omitempty"`
}

// RequireBearer lets through only requests with "Authorization: Bearer
// token", compared in constant time; others get 401.
func RequireBearer(token string, next http.Handler) http.Handler {
	want := []byte(token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="cutover"`)
			WriteError(w, http.StatusUnauthorized, "", "missing or wrong bearer token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// WriteError answers an ErrorResponse.
func WriteError(w http.ResponseWriter, code int, field, msg string) {
	WriteJSON(w, code, ErrorResponse{Error: msg, Field: field})
}

// WriteJSON answers v as indented JSON.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

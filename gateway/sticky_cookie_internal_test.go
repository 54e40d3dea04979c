package gateway

import (
	"net/http"
	"testing"

	"github.com/cutover-dev/cutover/gateway/upstream"
	"github.com/cutover-dev/cutover/spec"
)

// The sticky cookie is written by hand on the request path; it must read
// as net/http's Cookie.String would write it.
func TestStickyCookieAsNetHTTPWritesIt(t *testing.T) {
	for _, maxAge := range []int{0, 3600, -1} {
		rt := &route{routeConfig: routeConfig{
			sticky:       &spec.Stickiness{Cookie: &spec.CookieSticky{Name: "cutover-web"}},
			backends:     []*upstream.Backend{{Name: "legacy"}, {Name: "new-v2"}},
			cookieMaxAge: maxAge,
		}}
		x := &exchange{route: rt, backend: 1, bucket: 4711, setSticky: true}
		want := (&http.Cookie{Name: "cutover-web", Value: "4711.new-v2", Path: "/", MaxAge: maxAge, HttpOnly: true, SameSite: http.SameSiteLaxMode}).String()
		if got := string(x.appendStickyCookie(nil, nil)); got != want {
			t.Errorf("max age %d: %q, want %q", maxAge, got, want)
		}
	}
}

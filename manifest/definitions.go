package manifest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cutover-dev/cutover/manifest/config"
	"github.com/cutover-dev/cutover/manifest/templates"
	"github.com/cutover-dev/cutover/spec"
	"k8s.io/apimachinery/pkg/util/validation"
)

// LoadDefinitions reads config/definitions.yaml (or .yml, .json) over the
// defaults; without one the defaults stand.
func LoadDefinitions(dir string) (*templates.Definitions, error) {
	defs := templates.DefaultDefinitions()
	for _, ext := range []string{".yaml", ".yml", ".json"} {
		file := filepath.Join(dir, config.DefinitionsFile+ext)
		data, err := os.ReadFile(file)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		where, err := spec.DecodeDocument(file, data, defs)
		if err != nil {
			return nil, err
		}
		defs.File = file
		if errs := validateDefinitions(defs, func(path string) *spec.FieldError {
			return &spec.FieldError{File: file, Pos: where(path), Path: path}
		}); len(errs) > 0 {
			return nil, errs
		}
		return defs, nil
	}
	return defs, nil
}

// validateDefinitions checks the values the templates build names from.
func validateDefinitions(defs *templates.Definitions, at func(path string) *spec.FieldError) spec.ErrorList {
	var errs spec.ErrorList
	fail := func(path, format string, args ...any) {
		e := at(path)
		e.Msg = fmt.Sprintf(format, args...)
		errs = append(errs, e)
	}
	for _, name := range sortedKeys(defs.Environments) {
		e := defs.Environments[name]
		colours := map[string]string{}
		if e.Colour != "" {
			colours["environments."+name+".colour"] = e.Colour
		}
		for i, c := range e.Colours {
			colours[fmt.Sprintf("environments.%s.colours[%d]", name, i)] = c
		}
		for _, path := range sortedKeys(colours) {
			for _, msg := range validation.IsDNS1123Label(colours[path]) {
				fail(path, "%q cannot be part of a host name: %s", colours[path], msg)
			}
		}
		if e.Colour != "" && len(e.Colours) > 0 && !slices.Contains(e.Colours, e.Colour) {
			fail("environments."+name+".colour", "%q is not among colours %v", e.Colour, e.Colours)
		}
	}
	r := defs.RateLimitService
	for _, msg := range validation.IsDNS1123Label(r.Name) {
		fail("rateLimitService.name", "%q is not a valid name: %s", r.Name, msg)
	}
	if t := r.Redis.Type; t != "single" && t != "cluster" && t != "sentinel" {
		fail("rateLimitService.redis.type", "%q is not single, cluster or sentinel", t)
	}
	if r.Redis.Type == "sentinel" && !strings.Contains(r.Redis.Address, "@") {
		fail("rateLimitService.redis.address", "a sentinel address is master@host:port[,host:port], not %q", r.Redis.Address)
	}
	for _, sk := range []struct {
		path string
		key  *templates.SecretKey
	}{{"rateLimitService.redis.authSecret", r.Redis.AuthSecret}, {"rateLimitService.redis.caSecret", r.Redis.CASecret}} {
		if sk.key != nil && (sk.key.Name == "" || sk.key.Key == "") {
			fail(sk.path, "needs both name and key")
		}
	}
	return errs
}

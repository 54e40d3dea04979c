package manifest

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/cutover-dev/cutover/manifest/config"
	"github.com/cutover-dev/cutover/manifest/templates"
	"github.com/cutover-dev/cutover/spec"
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
		if _, err := spec.DecodeDocument(file, data, defs); err != nil {
			return nil, err
		}
		defs.File = file
		return defs, nil
	}
	return defs, nil
}

// Package config is the generator's User Config layer: the small
// per-service files that a person or a bot edits, config/<service>.yaml.
package config

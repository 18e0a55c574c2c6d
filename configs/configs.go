// Package configs embeds the run configurations shipped with the binary;
// quickstart.yaml is the default run of `train` with no arguments.
package configs

import "embed"

// FS holds every *.yaml file of this folder.
//
//go:embed *.yaml
var FS embed.FS

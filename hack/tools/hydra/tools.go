//go:build tools

// Package tools pins Ory Hydra for hack/build-hydra.sh: the imports of Hydra's main package.
package tools

import (
	_ "github.com/ory/hydra/v2/cmd"
	_ "github.com/ory/x/profilex"
)

//go:build race

package okta

// allocSlack scales allocation bounds: the race detector's instrumentation allocates
// beside the code under test (seen: 9.7 MiB for the bounded huge answer without it, 19.2
// MiB with it).
const allocSlack = 2

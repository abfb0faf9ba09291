//go:build !race

package okta

// allocSlack scales allocation bounds; 1 without the race detector.
const allocSlack = 1

// Package chaos is `make chaos` (hack/chaos.sh): a bounded run of the
// operator against the Okta emulator under random faults — kill -9 of the
// manager (sometimes the leader of two), kube-apiserver stopped and
// restarted with etcd's data kept, the emulator answering 500/503 or slowly
// in bursts and restarted with its --state-file — while OAuthClients rotate
// their secrets every ~30s, a fifth of them are deleted and created again,
// and one consumer per client (pkg/credentials on a kubelet-like volume)
// calls hello through the verifier every second. The invariants are checked
// during the run and at its end; see chaos_test.go.
//
// The test is behind the build tag chaos and is never part of make test.
package chaos

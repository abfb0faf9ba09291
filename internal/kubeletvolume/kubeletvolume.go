// Package kubeletvolume writes a directory the way kubelet's atomic writer updates a Secret
// or ConfigMap volume, for tests of code that reads such volumes: each version goes into a
// new timestamped directory, a "..data" symlink is swapped to it with one rename, and every
// key is a symlink "KEY -> ..data/KEY". A reader resolving "..data" once sees one version,
// never a mix.
package kubeletvolume

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

const dataLink = "..data"

var seq atomic.Int64

// Write publishes data as the new version of the volume at dir (created if missing): the
// keys of the previous version that data lacks disappear, as they do in kubelet.
func Write(dir string, data map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for k := range data {
		if k == "" || strings.ContainsAny(k, "/\x00") || strings.HasPrefix(k, "..") {
			return fmt.Errorf("kubeletvolume: invalid key %q", k)
		}
	}
	old, _ := os.Readlink(filepath.Join(dir, dataLink))
	// kubelet names versions ..<timestamp>.<random>.
	version := fmt.Sprintf("..%s.%d", time.Now().UTC().Format("2006_01_02_15_04_05.000000000"), seq.Add(1))
	vdir := filepath.Join(dir, version)
	if err := os.Mkdir(vdir, 0o755); err != nil {
		return err
	}
	for k, v := range data {
		if err := os.WriteFile(filepath.Join(vdir, k), v, 0o600); err != nil {
			return err
		}
	}
	tmp := filepath.Join(dir, "..data_tmp")
	_ = os.Remove(tmp)
	if err := os.Symlink(version, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, dataLink)); err != nil {
		return err
	}
	// The user-visible names: one symlink per key through ..data; stale ones removed.
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		link := filepath.Join(dir, k)
		if target, err := os.Readlink(link); err == nil && target == filepath.Join(dataLink, k) {
			continue
		}
		_ = os.Remove(link)
		if err := os.Symlink(filepath.Join(dataLink, k), link); err != nil {
			return err
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, "..") {
			continue
		}
		if _, ok := data[n]; !ok {
			_ = os.Remove(filepath.Join(dir, n))
		}
	}
	if old != "" && old != version {
		return os.RemoveAll(filepath.Join(dir, old))
	}
	return nil
}

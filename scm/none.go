package scm

import (
	"context"
	"fmt"
	"strings"
)

// noneSource is none://: there is no source to ship, and the version is the
// release section's `version`.
type noneSource struct {
	url string
}

func newNone(rawURL, _, _ string) (Source, error) {
	return &noneSource{url: rawURL}, nil
}

var _ Source = (*noneSource)(nil)

// Scheme returns "none".
func (s *noneSource) Scheme() string { return "none" }

// String returns the url.
func (s *noneSource) String() string { return s.url }

// Checkout returns the release's Version and no directory.
func (s *noneSource) Checkout(ctx context.Context, rel Release) (Checkout, error) {
	if err := ctx.Err(); err != nil {
		return Checkout{}, err
	}
	v := strings.TrimSpace(rel.Version)
	if v == "" {
		return Checkout{}, fmt.Errorf("%s of %s: set version in [release:%s]", releaseName(rel), s.url, rel.Name)
	}
	return Checkout{Version: v, Ref: "version " + v}, nil
}

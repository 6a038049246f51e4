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

// Check reports whether the release has a version.
func (s *noneSource) Check(rel Release) error {
	if strings.TrimSpace(rel.Version) == "" {
		return fmt.Errorf("%s of %s: set version in [release:%s]", releaseName(rel), s.url, rel.Name)
	}
	return nil
}

// Checkout returns the release's Version and no directory.
func (s *noneSource) Checkout(ctx context.Context, rel Release) (Checkout, error) {
	if err := ctx.Err(); err != nil {
		return Checkout{}, err
	}
	if err := s.Check(rel); err != nil {
		return Checkout{}, err
	}
	v := strings.TrimSpace(rel.Version)
	return Checkout{Version: v, Ref: "version " + v}, nil
}

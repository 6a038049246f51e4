//go:build !linux

package portertest

import "errors"

func mountTmpfs(string, int64) error { return errors.New("tmpfs is Linux's") }

func unmount(string) error { return nil }

func remountTmpfs(string, int64) error { return errors.New("tmpfs is Linux's") }

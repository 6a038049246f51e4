package scp_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/porter-deploy/porter/portertest"
	"github.com/porter-deploy/porter/scp"
)

func TestWriteAtomicSetsModeAndTime(t *testing.T) {
	srv := portertest.NewServer(t)
	h := srv.Dial(t)
	dst := filepath.Join(t.TempDir(), "secret.conf")
	when := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	require.NoError(t, scp.WriteAtomic(context.Background(), h, dst, strings.NewReader("token = x\n"), 0o600, when))
	b, err := os.ReadFile(dst)
	require.NoError(t, err)
	assert.Equal(t, "token = x\n", string(b))
	st, err := os.Stat(dst)
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o600), st.Mode().Perm())
	assert.True(t, when.Equal(st.ModTime()), "mtime: %v", st.ModTime())
	entries, err := os.ReadDir(filepath.Dir(dst))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file or directory left")
}

func TestWriteAtomicIntoMissingDirectoryNamesTheFile(t *testing.T) {
	srv := portertest.NewServer(t)
	h := srv.Dial(t)
	dst := filepath.Join(t.TempDir(), "none", "f")
	err := scp.WriteAtomic(context.Background(), h, dst, strings.NewReader("x"), 0o644, time.Time{})
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "write "+h.Name()+":"+dst+": create "), err.Error())
}

func TestSnapshotRestorePutsTheFileBackByteForByte(t *testing.T) {
	srv := portertest.NewServer(t)
	h := srv.Dial(t)
	ctx := context.Background()
	dst := filepath.Join(t.TempDir(), "app.conf")
	write(t, dst, "old\n", 0o640)
	when := time.Date(2023, 1, 2, 3, 4, 5, 0, time.UTC)
	require.NoError(t, os.Chtimes(dst, when, when))

	snap, err := scp.Save(ctx, h, dst)
	require.NoError(t, err)
	assert.Equal(t, dst, snap.Path)
	assert.True(t, snap.Existed)
	assert.Equal(t, "old\n", string(snap.Data))
	assert.Equal(t, fs.FileMode(0o640), snap.Mode)
	assert.True(t, when.Equal(snap.ModTime), "mtime kept: %v", snap.ModTime)
	write(t, dst, "new and longer\n", 0o644)

	require.NoError(t, snap.Restore(ctx, h))
	b, err := os.ReadFile(dst)
	require.NoError(t, err)
	assert.Equal(t, "old\n", string(b))
	st, err := os.Stat(dst)
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o640), st.Mode().Perm())
	assert.True(t, when.Equal(st.ModTime()), "mtime: %v", st.ModTime())
}

func TestSnapshotOfAMissingFileRemovesTheNewOne(t *testing.T) {
	srv := portertest.NewServer(t)
	h := srv.Dial(t)
	ctx := context.Background()
	dst := filepath.Join(t.TempDir(), "app.conf")
	snap, err := scp.Save(ctx, h, dst)
	require.NoError(t, err)
	assert.Equal(t, &scp.Snapshot{Path: dst}, snap)

	write(t, dst, "made by the deploy\n", 0o644)
	require.NoError(t, snap.Restore(ctx, h))
	_, err = os.Stat(dst)
	assert.ErrorIs(t, err, fs.ErrNotExist)
	require.NoError(t, snap.Restore(ctx, h), "a file already gone is not an error")
}

func TestSaveRefusesTooLargeAndNonRegularFiles(t *testing.T) {
	srv := portertest.NewServer(t)
	h := srv.Dial(t)
	ctx := context.Background()
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	require.NoError(t, os.WriteFile(big, make([]byte, scp.MaxSnapshotSize+1), 0o644))
	_, err := scp.Save(ctx, h, big)
	require.ErrorIs(t, err, scp.ErrTooLarge)
	assert.EqualError(t, err, "keep "+h.Name()+":"+big+": file too large to keep: more than 4194304 bytes")

	_, err = scp.Save(ctx, h, dir)
	assert.EqualError(t, err, "keep "+h.Name()+":"+dir+": not a regular file (d---------)")
}

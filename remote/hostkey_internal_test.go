package remote

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNewHostKeysSources: which known_hosts files are read and which policy
// applies, from Go options, then ssh_config, then OpenSSH's defaults.
func TestNewHostKeysSources(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	userDefault := []string{filepath.Join(home, ".ssh", "known_hosts")}
	none := &target{hostname: "h", port: 22}
	fromConfig := &target{hostname: "h", port: 22, knownHostsSet: true, knownHosts: []string{"/cfg/user"},
		globalKnownHostsSet: true, globalKnownHosts: []string{"/cfg/global"}}
	noneInConfig := &target{hostname: "h", port: 22, knownHostsSet: true, globalKnownHostsSet: true}
	for _, tc := range []struct {
		name         string
		opts         []Option
		t            *target
		user, global []string
	}{
		{"defaults", nil, none, userDefault, defaultGlobalKnownHosts},
		{"ssh_config", nil, fromConfig, []string{"/cfg/user"}, []string{"/cfg/global"}},
		{"ssh_config none", nil, noneInConfig, nil, nil},
		{"WithKnownHosts: those only", []Option{WithKnownHosts("/opt/user")}, fromConfig, []string{"/opt/user"}, nil},
		{"WithKnownHosts and WithGlobalKnownHosts", []Option{WithKnownHosts("/opt/user"), WithGlobalKnownHosts("/opt/global")},
			fromConfig, []string{"/opt/user"}, []string{"/opt/global"}},
		{"WithGlobalKnownHosts wins over ssh_config", []Option{WithGlobalKnownHosts("/opt/global")}, fromConfig,
			[]string{"/cfg/user"}, []string{"/opt/global"}},
		{"WithGlobalKnownHosts() = none", []Option{WithGlobalKnownHosts()}, none, userDefault, nil},
	} {
		hk := newHostKeys(newConfig(tc.opts), tc.t)
		assert.Equal(t, tc.user, hk.files, tc.name)
		assert.Equal(t, tc.global, hk.global, tc.name)
	}

	for strict, want := range map[string][2]bool{ // acceptNew, strictNo
		"": {false, false}, "yes": {false, false}, "true": {false, false}, "ask": {false, false},
		"accept-new": {true, false}, "no": {false, true}, "false": {false, true}, "off": {false, true},
	} {
		hk := newHostKeys(newConfig(nil), &target{hostname: "h", port: 22, strict: strict})
		assert.Equal(t, want, [2]bool{hk.acceptNew, hk.strictNo}, "StrictHostKeyChecking %q", strict)
		hk = newHostKeys(newConfig([]Option{WithAcceptNewHostKeys()}), &target{hostname: "h", port: 22, strict: strict})
		assert.Equal(t, [2]bool{true, false}, [2]bool{hk.acceptNew, hk.strictNo}, "WithAcceptNewHostKeys wins over %q", strict)
	}
}

// TestHostKeyAddr: a HostKeyAlias is asked about as it is, without the
// port, whatever the port; without one, HostName and Port.
func TestHostKeyAddr(t *testing.T) {
	for _, tc := range []struct {
		t    target
		want string
	}{
		{target{hostname: "10.0.0.1", port: 2222}, "10.0.0.1:2222"},
		{target{hostname: "10.0.0.1", port: 2222, hostKeyAlias: "web"}, "web:22"},
		{target{hostname: "10.0.0.1", port: 22, hostKeyAlias: "web"}, "web:22"},
		{target{hostname: "10.0.0.1", port: 22, hostKeyAlias: "[web]:2200"}, "web:2200"},
	} {
		assert.Equal(t, tc.want, tc.t.hostKeyAddr(), "%+v", tc.t)
	}
}

// TestSSHGAgreesWithParser: for what both can read, ssh -G and porter's
// parser resolve a host alike, and settings left at OpenSSH's defaults
// count as unset (porter's defaults apply, as without ssh).
func TestSSHGAgreesWithParser(t *testing.T) {
	sshBin, err := exec.LookPath("ssh")
	if err != nil {
		t.Skip("no ssh binary: ssh -G is not used here")
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	require.NoError(t, os.WriteFile(cfg, []byte(`
Host plain
  HostName 127.0.0.1

Host full
  HostName 10.1.2.3
  User deployer
  Port 2222
  IdentityFile `+dir+`/key_%r_%p
  IdentityFile `+dir+`/other
  ProxyJump jump@bastion:23,second
  HostKeyAlias fullalias
  UserKnownHostsFile `+dir+`/kh_%h `+dir+`/kh2
  GlobalKnownHostsFile `+dir+`/global
  StrictHostKeyChecking accept-new

Host nofiles
  IdentityFile none
  UserKnownHostsFile none
  GlobalKnownHostsFile none
`), 0o600))
	for _, addr := range []string{"plain", "full", "nofiles", "someone@full:2200", "unlisted.example"} {
		viaSSH := &configSource{path: cfg, ssh: sshBin}
		viaParser := &configSource{path: cfg}
		a, err := viaSSH.resolve(context.Background(), addr)
		require.NoError(t, err, addr)
		b, err := viaParser.resolve(context.Background(), addr)
		require.NoError(t, err, addr)
		// ssh -G always prints these two, with OpenSSH's defaults.
		if !b.globalKnownHostsSet {
			b.globalKnownHostsSet, b.globalKnownHosts = true, defaultGlobalKnownHosts
		}
		if b.strict == "" {
			b.strict = "ask"
		}
		assert.Equal(t, b, a, addr)
	}

	plain, err := (&configSource{path: cfg, ssh: sshBin}).resolve(context.Background(), "plain")
	require.NoError(t, err)
	assert.Empty(t, plain.identityFiles, "ssh -G's default identity files are not taken as set")
	assert.False(t, plain.knownHostsSet, "ssh -G's default UserKnownHostsFile is not taken as set")
	assert.Equal(t, 22, plain.port)
	assert.Equal(t, currentUser(), plain.user)
}

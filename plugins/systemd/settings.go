package systemd

import (
	"fmt"
	"strings"
	"time"

	"github.com/porter-deploy/porter"
)

type config struct {
	units   []string // with their suffixes
	action  Action
	user    bool
	useSudo bool
	timeout time.Duration
}

// unitTypes are the suffixes of the units systemctl can start, restart
// or reload.
var unitTypes = []string{"service", "socket", "target", "mount", "automount", "swap", "path", "timer", "slice"}

// maxUnitName is systemd's bound on a unit's name (UNIT_NAME_MAX - 1).
const maxUnitName = 255

func readConfig(s porter.Settings) (config, error) {
	if err := s.OnlyKeys("units", "action", "user", "use_sudo", "timeout"); err != nil {
		return config{}, err
	}
	c := config{action: Restart, timeout: DefaultTimeout}
	var err error
	if c.units, err = readUnits(s); err != nil {
		return c, err
	}
	switch a := Action(s.String("action", string(Restart))); a {
	case Restart, Reload, ReloadOrRestart:
		c.action = a
	default:
		return c, &porter.SettingError{Where: s.Where(), Key: "action", Value: string(a), Want: "restart, reload or reload-or-restart"}
	}
	if c.user, err = s.Bool("user", false); err != nil {
		return c, err
	}
	if c.useSudo, err = s.Bool("use_sudo", false); err != nil {
		return c, err
	}
	if c.user && c.useSudo {
		return c, fmt.Errorf("%s: user = true and use_sudo = true: systemctl --user acts on the SSH user's own units, which needs no sudo: remove one of them", s.Where())
	}
	if v, ok := s.Lookup("timeout"); ok {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return c, &porter.SettingError{Where: s.Where(), Key: "timeout", Value: v, Want: "a duration such as 30s or 2m"}
		}
		c.timeout = d
	}
	return c, nil
}

// readUnits reads the units setting: a list of unit names, each given its
// .service suffix when it has no unit suffix.
func readUnits(s porter.Settings) ([]string, error) {
	list := s.List("units")
	if len(list) == 0 {
		return nil, fmt.Errorf("%s: units is not set: name the units to restart, such as units = app.service, worker.service", s.Where())
	}
	seen := map[string]bool{}
	units := make([]string, 0, len(list))
	for _, u := range list {
		name, err := unitName(u)
		if err != nil {
			return nil, fmt.Errorf("%s: units: %q %s", s.Where(), u, err)
		}
		if seen[name] {
			return nil, fmt.Errorf("%s: units: %s is named twice: name each unit once", s.Where(), name)
		}
		seen[name] = true
		units = append(units, name)
	}
	return units, nil
}

// unitName checks a unit name as systemd does and adds .service when it has
// no unit suffix, as systemctl does. Its error completes `"NAME" ...`.
func unitName(u string) (string, error) {
	switch {
	case strings.ContainsAny(u, `/`):
		return "", fmt.Errorf("has a slash: name a unit (app.service), not its file")
	case strings.HasPrefix(u, "-"):
		return "", fmt.Errorf("starts with a dash: name a unit (app.service)")
	case strings.ContainsAny(u, "*?["):
		return "", fmt.Errorf("is a pattern: name each unit")
	}
	for _, c := range u {
		if !validUnitChar(c) {
			return "", fmt.Errorf("has %q, which no unit name has: a unit name is made of letters, digits and :-_.\\@", c)
		}
	}
	name := u
	if !hasUnitType(u) {
		switch {
		case strings.HasSuffix(u, ".device"), strings.HasSuffix(u, ".scope"):
			return "", fmt.Errorf("is a unit systemctl cannot restart: name the service that runs it")
		}
		name += ".service"
	}
	if len(name) > maxUnitName {
		return "", fmt.Errorf("is longer than %d bytes, which no unit name is", maxUnitName)
	}
	prefix, _, _ := strings.Cut(name[:strings.LastIndexByte(name, '.')], "@")
	if prefix == "" {
		return "", fmt.Errorf("has no name before its suffix: name a unit (app.service)")
	}
	if strings.Contains(name, "@.") {
		return "", fmt.Errorf("is a template: name an instance of it, such as %s", strings.Replace(name, "@.", "@1.", 1))
	}
	return name, nil
}

func hasUnitType(u string) bool {
	for _, t := range unitTypes {
		if strings.HasSuffix(u, "."+t) {
			return true
		}
	}
	return false
}

func validUnitChar(c rune) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.ContainsRune(`:-_.\@`, c)
}

package porter

import (
	"github.com/porter-deploy/porter/ledger"
)

// The JSON forms of the reports of Status and Releases. What comes from a
// host (a record's fields, a lock's holder, a release's) is written as the
// host has it, JSON-escaped; what the text report leaves out (a lock's
// token, the settings hash) is left out here too.

type jsonStatus struct {
	Schema string           `json:"schema"`
	Hosts  []jsonHostStatus `json:"hosts"`
}

type jsonHostStatus struct {
	Host    string             `json:"host"`
	Address string             `json:"address"`
	Error   string             `json:"error,omitempty"`
	Modules []jsonModuleStatus `json:"modules"`
}

type jsonModuleStatus struct {
	Module      string      `json:"module"`
	Path        string      `json:"path"`
	State       State       `json:"state"`
	Version     string      `json:"version,omitempty"`
	Current     string      `json:"current,omitempty"`
	Deployed    *jsonRecord `json:"deployed,omitempty"`
	RecordError string      `json:"record_error,omitempty"`
	Lock        *jsonLock   `json:"lock,omitempty"`
	LockError   string      `json:"lock_error,omitempty"`
}

type jsonRecord struct {
	Version    string `json:"version"`
	Release    string `json:"release"`
	Config     string `json:"config"`
	DeployedAt string `json:"deployed_at,omitempty"`
	DeployedBy string `json:"deployed_by"`
	ReleaseID  string `json:"release_id,omitempty"`
}

type jsonLock struct {
	By    string `json:"by,omitempty"`
	PID   int    `json:"pid,omitempty"`
	Since string `json:"since,omitempty"`
}

// MarshalJSON returns the report as one JSON document of schema
// StatusSchema (docs/json.md): every host in the report's order, each with
// its modules, their state, what a deploy would ship, the host's record
// and the lock a deploy holds.
func (r StatusReport) MarshalJSON() ([]byte, error) {
	doc := jsonStatus{Schema: StatusSchema, Hosts: []jsonHostStatus{}}
	for _, h := range r.Hosts {
		jh := jsonHostStatus{Host: h.Host, Address: h.Address, Error: errorText(h.Err), Modules: []jsonModuleStatus{}}
		for _, m := range h.Modules {
			jh.Modules = append(jh.Modules, moduleStatusJSON(m))
		}
		doc.Hosts = append(doc.Hosts, jh)
	}
	return marshalJSON(doc)
}

func moduleStatusJSON(m ModuleStatus) jsonModuleStatus {
	jm := jsonModuleStatus{Module: m.Module, Path: m.Path, State: m.State, Version: m.Version, Current: m.Current,
		RecordError: errorText(m.RecordErr), LockError: errorText(m.LockErr)}
	if rec := m.Record; rec != nil {
		jm.Deployed = &jsonRecord{Version: rec.Version, Release: rec.Release, Config: rec.Config,
			DeployedAt: jsonTime(rec.DeployedAt), DeployedBy: rec.DeployedBy, ReleaseID: rec.ReleaseID}
	}
	if l := m.Lock; l != nil {
		jm.Lock = &jsonLock{By: l.By, PID: l.PID, Since: jsonTime(l.Since)}
	}
	return jm
}

// ReleasesReport is what Releases returns, as a type of its own for its
// JSON form: json.Marshal(porter.ReleasesReport(all)).
type ReleasesReport []ModuleReleases

type jsonReleases struct {
	Schema  string               `json:"schema"`
	Modules []jsonModuleReleases `json:"modules"`
}

type jsonModuleReleases struct {
	Host     string        `json:"host"`
	Module   string        `json:"module"`
	Strategy Strategy      `json:"strategy"`
	Releases []jsonRelease `json:"releases,omitzero"`
}

type jsonRelease struct {
	ID         string              `json:"id"`
	Version    string              `json:"version"`
	State      ledger.ReleaseState `json:"state"`
	Started    string              `json:"started,omitempty"`
	Finished   string              `json:"finished,omitempty"`
	By         string              `json:"by"`
	RolledBack string              `json:"rolled_back,omitempty"`
	Current    bool                `json:"current"`
}

// MarshalJSON returns the list as one JSON document of schema
// ReleasesSchema (docs/json.md): each module of each host in order, with
// its releases oldest first (none for a module deployed in place).
func (r ReleasesReport) MarshalJSON() ([]byte, error) {
	doc := jsonReleases{Schema: ReleasesSchema, Modules: []jsonModuleReleases{}}
	for _, mr := range r {
		jm := jsonModuleReleases{Host: mr.Host, Module: mr.Module, Strategy: mr.Strategy}
		if mr.Strategy == StrategyReleases {
			jm.Releases = []jsonRelease{}
		}
		for _, rel := range mr.Releases {
			jm.Releases = append(jm.Releases, jsonRelease{ID: rel.ID, Version: rel.Version, State: rel.State,
				Started: jsonTime(rel.Started), Finished: jsonTime(rel.Finished), By: rel.By,
				RolledBack: jsonTime(rel.RolledBack), Current: rel.Current})
		}
		doc.Modules = append(doc.Modules, jm)
	}
	return marshalJSON(doc)
}

package porter

import "github.com/porter-deploy/porter/rsync"

// PlanSchema is the schema of deploy --plan --json: PlanReport.MarshalJSON.
const PlanSchema = "porter.plan/v1"

type jsonPlan struct {
	Schema string         `json:"schema"`
	Hosts  []jsonHostPlan `json:"hosts"`
}

type jsonHostPlan struct {
	Host    string           `json:"host"`
	Address string           `json:"address"`
	Error   string           `json:"error,omitempty"`
	Modules []jsonModulePlan `json:"modules"`
}

type jsonModulePlan struct {
	Module   string           `json:"module"`
	Path     string           `json:"path"`
	Strategy Strategy         `json:"strategy"`
	Deploy   bool             `json:"deploy"`
	Reasons  []string         `json:"reasons"`
	State    State            `json:"state"`
	Version  string           `json:"version,omitempty"`
	Current  string           `json:"current,omitempty"`
	Deployed *jsonRecord      `json:"deployed,omitempty"`
	Lock     *jsonLock        `json:"lock,omitempty"`
	SkipSend string           `json:"skip_send,omitempty"`
	Sync     *jsonSync        `json:"sync,omitempty"`
	Files    []jsonFileChange `json:"files,omitempty"`
	Configs  []jsonConfigPlan `json:"configs,omitempty"`
	Health   string           `json:"health,omitempty"`
	Signals  []jsonSignalPlan `json:"signals,omitempty"`
}

type jsonFileChange struct {
	Op     string `json:"op"`
	Path   string `json:"path"`
	Size   int64  `json:"size,omitempty"`
	Reason string `json:"reason"`
}

type jsonConfigPlan struct {
	Name   string `json:"name"`
	Local  string `json:"local"`
	Remote string `json:"remote"`
	Mode   string `json:"mode"`
	Change string `json:"change"`
	Diff   string `json:"diff,omitempty"`
	NoDiff string `json:"no_diff,omitempty"`
}

type jsonSignalPlan struct {
	Signal   Signal            `json:"signal"`
	Handlers []jsonHandlerPlan `json:"handlers"`
}

type jsonHandlerPlan struct {
	Owner     string   `json:"owner"`
	Described bool     `json:"described"`
	Lines     []string `json:"lines,omitempty"`
}

// MarshalJSON returns the plan as one JSON document of schema PlanSchema
// (docs/json.md): every host in the target's order, each module with
// whether it would deploy and why, the file changes, the config files
// (with their masked diffs when the plan has them) and the handlers.
func (r PlanReport) MarshalJSON() ([]byte, error) {
	doc := jsonPlan{Schema: PlanSchema, Hosts: []jsonHostPlan{}}
	for _, h := range r.Hosts {
		jh := jsonHostPlan{Host: h.Host, Address: h.Address, Error: errorText(h.Err), Modules: []jsonModulePlan{}}
		for _, m := range h.Modules {
			jh.Modules = append(jh.Modules, modulePlanJSON(m))
		}
		doc.Hosts = append(doc.Hosts, jh)
	}
	return marshalJSON(doc)
}

func modulePlanJSON(m ModulePlan) jsonModulePlan {
	st := moduleStatusJSON(ModuleStatus{Record: m.Record, Lock: m.Lock})
	jm := jsonModulePlan{Module: m.Module, Path: m.Path, Strategy: m.Strategy, Deploy: m.Deploy,
		Reasons: append([]string{}, m.Reasons...), State: m.State, Version: m.Version, Current: m.Current,
		Deployed: st.Deployed, Lock: st.Lock, SkipSend: m.SkipSend, Health: m.Health}
	if m.Deploy && m.SkipSend == "" {
		jm.Sync = syncJSON(m.Sync)
	}
	for _, c := range m.Files {
		size := int64(0)
		if c.Op == rsync.OpSend || c.Op == rsync.OpCopy {
			size = c.Size
		}
		jm.Files = append(jm.Files, jsonFileChange{Op: c.Op.String(), Path: c.Path, Size: size, Reason: c.Reason})
	}
	for _, c := range m.Configs {
		jm.Configs = append(jm.Configs, jsonConfigPlan(c))
	}
	for _, s := range m.Signals {
		js := jsonSignalPlan{Signal: s.Signal, Handlers: []jsonHandlerPlan{}}
		for _, h := range s.Handlers {
			js.Handlers = append(js.Handlers, jsonHandlerPlan(h))
		}
		jm.Signals = append(jm.Signals, js)
	}
	return jm
}

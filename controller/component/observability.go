package component

import "github.com/foundry-fleet/foundry/controller/config"

// withObservability lets Prometheus and Loki be configured the seed's
// way, under observability: with only retention there, the component is
// still configured (the config's own Configured says so too), at the
// newest imported version. components.<name> wins when both are given.
func withObservability(cs []Component) []Component {
	pick := map[string]func(*config.Observability) bool{
		"prometheus": func(o *config.Observability) bool { return o.Prometheus != nil },
		"loki":       func(o *config.Observability) bool { return o.Loki != nil },
	}
	for i, c := range cs {
		has, ok := pick[c.Name]
		if !ok || c.Desired == nil {
			continue
		}
		own := c.Desired
		cs[i].Desired = func(cfg *config.Config) (Desired, bool) {
			if d, ok := own(cfg); ok {
				return d, true
			}
			if cfg.Observability != nil && has(cfg.Observability) {
				return Desired{}, true
			}
			return Desired{}, false
		}
	}
	return cs
}

package config

import "testing"

// FuzzParse feeds arbitrary text to the loader: it must never panic, and a
// config it accepts must render (redacted) to text that loads again
// without schema problems.
func FuzzParse(f *testing.F) {
	f.Add(minimal)
	f.Add(seedExample)
	f.Add(inlineSecretConfig)
	f.Add("a: &a [*a]\n")
	f.Add("cluster: {nodes: [{hostname: x, labels: {a: b}}]}\n")
	f.Add("version: 1.0\ncomponents: {k3s: {ha: true, disable: [x]}}\n")
	f.Fuzz(func(t *testing.T, text string) {
		file, err := Parse("fuzz.yaml", []byte(text))
		if err != nil {
			return
		}
		ps := file.Validate()
		if len(ps.Errors()) != 0 {
			return
		}
		out, err := file.Config.RedactedYAML()
		if err != nil {
			t.Fatalf("render: %v", err)
		}
		again, err := Parse("again.yaml", out)
		if err != nil {
			t.Fatalf("rendered config does not parse: %v\n%s", err, out)
		}
		if len(again.dec.problems) != 0 {
			t.Fatalf("rendered config has schema problems: %s\n%s", again.dec.problems, out)
		}
	})
}

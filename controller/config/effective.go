package config

import (
	"net"
	"reflect"

	"github.com/foundry-fleet/foundry/controller/secrets"
)

// OpenBAOPort is OpenBAO's default API port.
const OpenBAOPort = "8200"

// Effective returns a copy of the config with Foundry's defaults filled
// in, so `config show` and the installer see the same values. The original
// is not modified.
func (c *Config) Effective() Config {
	e := deepCopy(reflect.ValueOf(*c)).Interface().(Config)
	if z := e.Components.Zot; z != nil && z.Flavor == "" {
		z.Flavor = FlavorZot
	}
	if b := e.Components.OpenBAO; b != nil && b.Storage == "" {
		b.Storage = "raft"
	}
	if m := e.Components.MinIO; m != nil && m.Deploy == "" {
		m.Deploy = "auto"
	}
	if e.Foundry == nil {
		e.Foundry = &Foundry{}
	}
	if addr := c.OpenBAOAddress(); addr != "" {
		if e.Foundry.OpenBAO == nil {
			e.Foundry.OpenBAO = &FoundryOpenBAO{}
		}
		e.Foundry.OpenBAO.Address = addr
		if e.Foundry.OpenBAO.Mount == "" {
			e.Foundry.OpenBAO.Mount = secrets.DefaultMount
		}
	}
	e.Foundry.SSHKeys = c.SSHKeysBackend()
	return e
}

// OpenBAOAddress is where Foundry reaches OpenBAO: foundry.openbao.address,
// else https://<first OpenBAO host>:8200, else "" (not configured).
func (c *Config) OpenBAOAddress() string {
	if c.Foundry != nil && c.Foundry.OpenBAO != nil && c.Foundry.OpenBAO.Address != "" {
		return c.Foundry.OpenBAO.Address
	}
	if b := c.Components.OpenBAO; b != nil && len(b.Hosts) > 0 {
		return "https://" + net.JoinHostPort(b.Hosts[0], OpenBAOPort)
	}
	return ""
}

// OpenBAOMount is the KV v2 mount Foundry uses.
func (c *Config) OpenBAOMount() string {
	if c.Foundry != nil && c.Foundry.OpenBAO != nil && c.Foundry.OpenBAO.Mount != "" {
		return c.Foundry.OpenBAO.Mount
	}
	return secrets.DefaultMount
}

// SSHKeysBackend is where host SSH keys live: foundry.ssh_keys when set,
// else openbao when OpenBAO is configured, else file.
func (c *Config) SSHKeysBackend() string {
	if c.Foundry != nil && c.Foundry.SSHKeys != "" {
		return c.Foundry.SSHKeys
	}
	if c.OpenBAOAddress() != "" {
		return secrets.SSHKeysOpenBAO
	}
	return secrets.SSHKeysFile
}

// deepCopy copies pointers, slices and maps so defaults applied to the
// copy never reach the original.
func deepCopy(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return reflect.Zero(v.Type())
		}
		out := reflect.New(v.Type().Elem())
		out.Elem().Set(deepCopy(v.Elem()))
		return out
	case reflect.Struct:
		out := reflect.New(v.Type()).Elem()
		for i := 0; i < v.NumField(); i++ {
			if out.Field(i).CanSet() {
				out.Field(i).Set(deepCopy(v.Field(i)))
			}
		}
		return out
	case reflect.Slice:
		if v.IsNil() {
			return reflect.Zero(v.Type())
		}
		out := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := 0; i < v.Len(); i++ {
			out.Index(i).Set(deepCopy(v.Index(i)))
		}
		return out
	case reflect.Map:
		if v.IsNil() {
			return reflect.Zero(v.Type())
		}
		out := reflect.MakeMapWithSize(v.Type(), v.Len())
		iter := v.MapRange()
		for iter.Next() {
			out.SetMapIndex(iter.Key(), deepCopy(iter.Value()))
		}
		return out
	}
	return v
}

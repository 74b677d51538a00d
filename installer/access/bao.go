package access

import (
	"context"
	"errors"
	"fmt"

	"github.com/foundry-fleet/foundry/controller/secrets"
)

// UserpassPath is the auth method Foundry enables for its users.
const UserpassPath = "userpass"

// entityMetadata marks entities Foundry made.
var entityMetadata = map[string]any{"managed-by": managedBy, "kind": "user"}

func notFound(err error) bool { return errors.Is(err, secrets.ErrNotFound) }

// userpassAccessor returns the accessor of the userpass method, or "" when
// it is not enabled.
func (m *Manager) userpassAccessor(ctx context.Context) (string, error) {
	auths, err := m.Bao.Read(ctx, "list auth methods", "sys/auth")
	if err != nil && !notFound(err) {
		return "", err
	}
	mount, _ := auths[UserpassPath+"/"].(map[string]any)
	if mount == nil {
		return "", nil
	}
	if t, _ := mount["type"].(string); t != "userpass" {
		return "", fmt.Errorf("OpenBAO has a %q auth method at %s/, where Foundry expects userpass; move it", t, UserpassPath)
	}
	acc, _ := mount["accessor"].(string)
	return acc, nil
}

// enableUserpass enables userpass at UserpassPath and returns its
// accessor. It stays enabled after a failed create: it is shared by
// every user and holds nothing of the failed one.
func (m *Manager) enableUserpass(ctx context.Context) (string, error) {
	if _, err := m.Bao.Write(ctx, "enable the userpass auth method", "sys/auth/"+UserpassPath,
		map[string]any{"type": "userpass", "description": "Foundry users (foundry rbac user create)"}); err != nil {
		return "", err
	}
	acc, err := m.userpassAccessor(ctx)
	if err == nil && acc == "" {
		err = errors.New("OpenBAO enabled userpass but does not list it")
	}
	return acc, err
}

// baoUser is what OpenBAO knows of a user.
type baoUser struct {
	EntityID string
	Policies []string
	Userpass bool
	Aliases  []string // mount paths of the entity's aliases
	Foundry  bool     // the entity carries Foundry's metadata
}

func (m *Manager) lookupEntity(ctx context.Context, name string) (*baoUser, error) {
	e, err := m.Bao.Read(ctx, "read entity "+name, "identity/entity/name/"+name)
	if notFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	u := &baoUser{}
	u.EntityID, _ = e["id"].(string)
	u.Policies = stringSlice(e["policies"])
	if md, ok := e["metadata"].(map[string]any); ok {
		u.Foundry = md["managed-by"] == managedBy
	}
	if as, ok := e["aliases"].([]any); ok {
		for _, a := range as {
			if am, ok := a.(map[string]any); ok {
				p, _ := am["mount_path"].(string)
				u.Aliases = append(u.Aliases, p)
			}
		}
	}
	return u, nil
}

func (m *Manager) userpassUserExists(ctx context.Context, name string) (bool, error) {
	_, err := m.Bao.Read(ctx, "read userpass user "+name, "auth/"+UserpassPath+"/users/"+name)
	if notFound(err) {
		return false, nil
	}
	return err == nil, err
}

func stringSlice(v any) []string {
	raw, _ := v.([]any)
	var out []string
	for _, x := range raw {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func (m *Manager) kvDataPath(p string) string { return m.Bao.Mount() + "/data/" + p }
func (m *Manager) kvMetaPath(p string) string { return m.Bao.Mount() + "/metadata/" + p }

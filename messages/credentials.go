package messages

import "path"

// ServiceCredential is where systemd's LoadCredential= puts a Secret
// file for a sandboxed service: $CREDENTIALS_DIRECTORY is always
// /run/credentials/<unit>, so a config file that cannot read the
// environment (OpenBAO's HCL) can name the file by this fixed path.
func ServiceCredential(component, name string) string {
	return path.Join("/run/credentials", ServiceUnit(component), name)
}

package messages

import "testing"

func TestDecodeUninstallArgs(t *testing.T) {
	key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBmWc0ZQq3jFz5mS2p3bZC4pN7LwG5Q1hY8s2gkq9f0e foundry"
	for in, ok := range map[string]bool{
		``:     true,
		`null`: true,
		`{}`:   true,
		`{"ssh_user":"admin","authorized_key":"` + key + `"}`:                  true,
		`{"ssh_user":"admin"}`:                                                 false,
		`{"ssh_user":"ad min","authorized_key":"` + key + `"}`:                 false,
		`{"ssh_user":"admin","authorized_key":"ssh-rsa AAAAB3Nza foundry"}`:    false,
		`{"ssh_user":"admin","authorized_key":"` + key + `\nssh-ed25519 x y"}`: false,
		`{"ssh_user":"admin","authorized_key":"` + key + `'; rm -rf / #"}`:     false,
		`{"ssh_user":"$(reboot)","authorized_key":"` + key + `"}`:              false,
	} {
		_, err := DecodeUninstallArgs([]byte(in))
		if (err == nil) != ok {
			t.Errorf("%s: err %v, want ok=%v", in, err, ok)
		}
	}
}

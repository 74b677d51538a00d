package messages

// APIWebLogin asks the controller for a one-time login link to its web
// view. It is a read: the link grants only the read-only view, so a
// read-only operator may ask for one.
var APIWebLogin = MustAPISubject("controller", "web-login")

// WebLoginRequest asks for a login link; it has no parameters because the
// link is for the operator who signed the request.
type WebLoginRequest struct{}

// WebLoginResult is a one-time login link. The token in it is a bearer
// secret until it is used or expires, so it is printed to the operator
// and never logged.
type WebLoginResult struct {
	URL       string `json:"url"`
	ExpiresAt int64  `json:"expires_at"` // unix ms
}

package helm

// externalDNSSecret is the Secret the external-dns chart renders from
// secretConfiguration (its fullname, for release external-dns), and the
// directory it is mounted at.
const (
	externalDNSSecret    = "external-dns"
	externalDNSCredsDir  = "/etc/external-dns"
	externalDNSCredsFile = externalDNSCredsDir + "/credentials"
)

// externalDNSProvider is the provider name external-dns takes; route53 is
// what people call AWS's DNS, which external-dns names aws.
func externalDNSProvider(p string) string {
	if p == "route53" {
		return "aws"
	}
	return p
}

// externalDNSCredentials points provider at the credentials Secret: the
// SDKs that read a credentials file get its path in their variable, the
// token-based ones the token from the Secret (secretKeyRef, so the value
// is never in the pod spec), Azure its config file flag. Other providers
// get the file mounted at /etc/external-dns/credentials and nothing
// more: their own flags or variables must point there.
func externalDNSCredentials(provider string) (env []any, args []any) {
	fromSecret := func(name string) []any {
		return []any{Values{"name": name, "valueFrom": Values{"secretKeyRef": Values{"name": externalDNSSecret, "key": "credentials"}}}}
	}
	switch provider {
	case "aws":
		return []any{Values{"name": "AWS_SHARED_CREDENTIALS_FILE", "value": externalDNSCredsFile}}, nil
	case "google":
		return []any{Values{"name": "GOOGLE_APPLICATION_CREDENTIALS", "value": externalDNSCredsFile}}, nil
	case "azure", "azure-private-dns":
		return nil, []any{"--azure-config-file=" + externalDNSCredsFile}
	case "cloudflare":
		return fromSecret("CF_API_TOKEN"), nil
	case "digitalocean":
		return fromSecret("DO_TOKEN"), nil
	case "rfc2136":
		// external-dns reads every flag from EXTERNAL_DNS_<FLAG> too, so
		// the TSIG secret never has to be an argument.
		return fromSecret("EXTERNAL_DNS_RFC2136_TSIG_SECRET"), nil
	}
	return nil, nil
}

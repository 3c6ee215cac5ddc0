package web_test

// idpMatrix: the Identity providers area (web/admin/idpadmin), platform admins only.
// The matrix runs it on the provider configured from settings ("default"): its settings
// are read-only (changes answer 409 for admins), its mapping grid works like any other.
var idpMatrix = map[string]map[string]bool{
	"GET /admin/identity-providers":                           roles(admin),
	"GET /admin/identity-providers/new":                       roles(admin),
	"POST /admin/identity-providers":                          roles(admin), // an empty form: field errors
	"POST /admin/identity-providers/test-discovery":           roles(admin), // no issuer: the problem in words
	"GET /admin/identity-providers/:key":                      roles(admin),
	"POST /admin/identity-providers/:key":                     roles(admin), // settings provider: 409
	"POST /admin/identity-providers/:key/test-discovery":      roles(admin),
	"POST /admin/identity-providers/:key/enable":              roles(admin),
	"POST /admin/identity-providers/:key/disable":             roles(admin),
	"POST /admin/identity-providers/:key/delete":              roles(admin),
	"POST /admin/identity-providers/:key/mappings":            roles(admin), // an empty form: field errors
	"POST /admin/identity-providers/:key/mappings/:id":        roles(admin), // an empty form: field errors
	"POST /admin/identity-providers/:key/mappings/:id/delete": roles(admin), // version 0: refused as stale
	"POST /admin/identity-providers/:key/reevaluate":          roles(admin),
}

func init() {
	for route, allowed := range idpMatrix {
		matrix[route] = allowed
	}
}

package signin

import (
	"net/http"

	"kv-shepherd.io/shepherd/internal/devoidc"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/web/page"
)

// DevPickerRenderer renders the development issuer's user picker in Shepherd's look.
func DevPickerRenderer(devMode bool) func(w http.ResponseWriter, r *http.Request, d devoidc.PickerData) {
	return func(w http.ResponseWriter, r *http.Request, d devoidc.PickerData) {
		m := views.DevPicker{Action: d.Action, Hidden: d.Hidden, ClientID: d.ClientID, Error: d.Error}
		for _, u := range d.Users {
			m.Users = append(m.Users, views.DevUser{Sub: u.Sub, Username: u.Username, Name: u.Name, Email: u.Email,
				Description: u.Description, Groups: u.Groups, Initials: page.Initials(u.Name)})
		}
		status := http.StatusOK
		if d.Error != "" {
			status = http.StatusBadRequest
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		l := views.Layout{Title: "Development sign-in", DevMode: devMode, BareNav: true}
		_ = views.DevPickerPage(l, m).Render(r.Context(), w)
	}
}

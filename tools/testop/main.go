// Command testop runs an independent OpenID provider for Shepherd's browser tests: the
// maintained github.com/oauth2-proxy/mockoidc, in its own module so its dependencies never
// touch Shepherd's go.mod. Every sign-in through it is the user given by the flags (no
// login form). It prints "ISSUER <url>" once it listens and runs until killed.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/oauth2-proxy/mockoidc"
)

func main() {
	clientID := flag.String("client-id", "shepherd", "client id")
	secret := flag.String("client-secret", "", "client secret")
	sub := flag.String("sub", "ext-user-1", "the user's subject")
	username := flag.String("username", "erin", "preferred_username")
	email := flag.String("email", "erin@example.org", "email")
	groups := flag.String("groups", "", "comma-separated groups")
	flag.Parse()

	m, err := mockoidc.NewServer(nil)
	if err != nil {
		log.Fatal(err)
	}
	m.ClientID = *clientID
	if *secret != "" {
		m.ClientSecret = *secret
	}
	user := &mockoidc.MockUser{
		Subject:           *sub,
		Email:             *email,
		EmailVerified:     true,
		PreferredUsername: *username,
	}
	for _, g := range strings.Split(*groups, ",") {
		if g = strings.TrimSpace(g); g != "" {
			user.Groups = append(user.Groups, g)
		}
	}
	// Each authorization request signs in the configured user.
	if err := m.AddMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == mockoidc.AuthorizationEndpoint {
				m.QueueUser(user)
			}
			next.ServeHTTP(w, r)
		})
	}); err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	if err := m.Start(ln, nil); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("ISSUER %s\n", m.Issuer())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	_ = m.Shutdown()
}

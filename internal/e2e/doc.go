// Package e2e holds browser tests: a real headless Chromium (Debian's package) drives a
// whole Shepherd, sign-in through the development OIDC issuer included.
package e2e

package app

import (
	"kv-shepherd.io/shepherd/internal/live"
	"kv-shepherd.io/shepherd/web"
)

// wireLive builds the hub of the pages' event streams and the one LISTEN connection
// that feeds it (started by Run; it reaches every replica, as NOTIFY does).
func (a *App) wireLive(deps *web.Deps) {
	a.Live = live.NewHub()
	a.liveListener = &live.Listener{Hub: a.Live, Config: a.Pool.Config().ConnConfig,
		Logger: a.Logger.With("component", "live")}
	deps.Live = a.Live
}

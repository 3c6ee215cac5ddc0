package web_test

import (
	"context"

	"github.com/google/uuid"

	"kv-shepherd.io/shepherd/ent/user"
	"kv-shepherd.io/shepherd/internal/apptest"
	"kv-shepherd.io/shepherd/internal/authz"
	"kv-shepherd.io/shepherd/internal/governance"
)

func governanceRequester(ctx context.Context, env *apptest.Env, username string) (governance.Requester, error) {
	u, err := env.App.Store.Ent.User.Query().Where(user.Username(username)).Only(ctx)
	if err != nil {
		return governance.Requester{}, err
	}
	p, err := authz.Load(ctx, env.App.Store.Ent, u.ID, u.Username)
	return governance.Requester{User: u, Principal: p}, err
}

func uuidOf(v interface{ String() string }) uuid.UUID { return uuid.MustParse(v.String()) }

package admin

import (
	"context"
	"errors"
	"strconv"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/internal/catalog"
	"kv-shepherd.io/shepherd/internal/domain"
	"kv-shepherd.io/shepherd/web/page"
)

// lifecycleStep is a template transition that changes one version, and the sentence
// that confirms it.
type lifecycleStep struct {
	run  func(s *catalog.Service, ctx context.Context, a catalog.Actor, id uuid.UUID) (*ent.Template, error)
	done string
}

var (
	deprecate = lifecycleStep{(*catalog.Service).Deprecate, "is deprecated: existing VMs are fine, new requests cannot choose it."}
	archive   = lifecycleStep{(*catalog.Service).Archive, "is archived and hidden everywhere."}
)

func (h *Handler) templateAction(step lifecycleStep) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := pathID(c)
		if err != nil {
			return err
		}
		t, err := step.run(h.Catalog, c.Request().Context(), actor(c), id)
		msg := ""
		if err == nil {
			msg = t.Name + " v" + itoa(t.Version) + " " + step.done
		}
		return actionDone(c, err, msg, "/admin/templates/"+id.String())
	}
}

// publish activates a draft; the flash names the version it replaced.
func (h *Handler) publish(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	t, prev, err := h.Catalog.Publish(c.Request().Context(), actor(c), id)
	msg := ""
	if err == nil {
		msg = t.Name + " v" + itoa(t.Version) + " is now active and offered to new requests."
		if prev != nil {
			msg += " v" + itoa(prev.Version) + " is deprecated: its VMs keep running, new requests cannot choose it."
		}
	}
	return actionDone(c, err, msg, "/admin/templates/"+id.String())
}

// newVersion copies the latest version into a draft and opens it; when a draft exists
// already, it opens that one instead.
func (h *Handler) newVersion(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	draft, err := h.Catalog.NewVersion(c.Request().Context(), actor(c), id)
	var de *domain.Error
	if errors.As(err, &de) && de.Code == catalog.CodeTemplateDraftExists {
		if existing, ok := de.Params["id"].(string); ok {
			page.Flash(c, "info", de.Message)
			return page.Redirect(c, "/admin/templates/"+existing)
		}
	}
	msg := ""
	if err == nil {
		msg = "Draft v" + itoa(draft.Version) + " of " + draft.Name + " created from the latest version. Edit it, then publish."
		return actionDone(c, nil, msg, "/admin/templates/"+draft.ID.String())
	}
	return actionDone(c, err, msg, "/admin/templates/"+id.String())
}

func itoa(n int) string { return strconv.Itoa(n) }

package notifications

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/internal/notify"
	"kv-shepherd.io/shepherd/internal/paging"
	"kv-shepherd.io/shepherd/internal/redirect"
	"kv-shepherd.io/shepherd/views"
	"kv-shepherd.io/shepherd/views/notificationsview"
	"kv-shepherd.io/shepherd/web/page"
)

const inboxPath = "/notifications"

// listQuery is the inbox's query string: ?show=unread|all&page=&per_page=.
type listQuery struct {
	UnreadOnly bool
	Page       paging.Page
}

func parseListQuery(q url.Values) listQuery {
	return listQuery{UnreadOnly: q.Get("show") == "unread", Page: page.PagingOf(q, paging.DefaultPerPage, paging.MaxPerPage)}
}

// values is the canonical query string of the page (page and per_page omitted when default).
func (lq listQuery) values(number int) url.Values {
	v := url.Values{}
	if lq.UnreadOnly {
		v.Set("show", "unread")
	}
	if number > 1 {
		v.Set("page", strconv.Itoa(number))
	}
	if lq.Page.PerPage != paging.DefaultPerPage {
		v.Set("per_page", strconv.Itoa(lq.Page.PerPage))
	}
	return v
}

// backTarget accepts only the inbox itself as the place to return to after an action.
func backTarget(back string) string {
	back = redirect.LocalPath(back)
	if back == inboxPath || strings.HasPrefix(back, inboxPath+"?") {
		return back
	}
	return inboxPath
}

func (h *Handler) inbox(c echo.Context) error {
	lq := parseListQuery(c.QueryParams())
	m, err := h.model(c, lq)
	if err != nil {
		return err
	}
	return page.OK(c, notificationsview.InboxPage(h.Kit.Layout(c, "Notifications", "notifications"), m))
}

// model loads one page of the signed-in user's inbox.
func (h *Handler) model(c echo.Context, lq listQuery) (notificationsview.Inbox, error) {
	u := page.User(c)
	res, err := notify.List(c.Request().Context(), h.Kit.Store.Ent,
		notify.InboxQuery{Recipient: u.ID, UnreadOnly: lq.UnreadOnly, Page: lq.Page})
	if err != nil {
		return notificationsview.Inbox{}, err
	}
	m := notificationsview.Inbox{Show: "all", Unread: res.Unread, CSRF: page.StateOf(c).CSRF}
	if lq.UnreadOnly {
		m.Show = "unread"
	}
	pagerQuery := lq.values(1)
	pagerQuery.Del("per_page")
	m.Pager = views.NewPager(res.Page, res.Total, inboxPath, pagerQuery)
	m.Back = inboxPath
	if q := lq.values(res.Page.Number).Encode(); q != "" {
		m.Back += "?" + q
	}
	for _, n := range res.Items {
		m.Items = append(m.Items, item(n))
	}
	return m, nil
}

func item(n *ent.Notification) notificationsview.Item {
	it := notificationsview.Item{ID: n.ID.String(), Type: string(n.Type), Title: n.Title, Body: n.Body,
		CreatedAt: n.CreatedAt, Read: n.ReadAt != nil}
	// Links are written by Shepherd itself, but only local paths are ever rendered.
	if n.Link != "" && redirect.LocalPath(n.Link) == n.Link {
		it.Link = n.Link
	}
	return it
}

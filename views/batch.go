package views

// BatchResult is the summary page after a batch action: what was asked, and every item
// with its outcome (one line each, the name a link).
type BatchResult struct {
	Title   string // "Stop: 5 VMs"
	Summary string // "5 stop queued." / "3 approved, 1 needs your choice."
	Message string // a refusal of the whole batch ("Nothing was deleted: ...")
	Items   []BatchItem
	Back    string // where "Back to the list" leads
	BackTo  string // its label
}

// BatchItem is one VM or request of a batch result.
type BatchItem struct {
	Name, URL string // URL "" when the user may not see it
	Kind      string // the request type, in words (approvals)
	Outcome   string // governance.Outcome*: the badge's class
	Label     string // the outcome in words
	Message   string
	// Action is the link of an item that needs the person ("Open it").
	Action, ActionURL string
}

// BatchOutcomeLabel is an outcome (governance.Outcome*) in words.
func BatchOutcomeLabel(outcome string) string {
	switch outcome {
	case "queued":
		return "Queued"
	case "requested":
		return "Sent for approval"
	case "approved":
		return "Approved"
	case "rejected":
		return "Rejected"
	case "unchanged":
		return "Nothing to do"
	case "refused":
		return "Not done"
	case "choice":
		return "Needs your choice"
	case "failed":
		return "Failed"
	}
	return Humanize(outcome)
}

func batchOutcomeClass(outcome string) string {
	switch outcome {
	case "queued", "requested", "approved", "rejected":
		return "batch-outcome ok"
	case "unchanged":
		return "batch-outcome same"
	case "choice":
		return "batch-outcome choice"
	}
	return "batch-outcome bad"
}

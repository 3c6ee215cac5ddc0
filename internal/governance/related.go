package governance

import (
	"encoding/json"

	entsql "entgo.io/ent/dialect/sql"

	"kv-shepherd.io/shepherd/ent"
	"kv-shepherd.io/shepherd/ent/approvalticket"
	"kv-shepherd.io/shepherd/ent/predicate"
)

// Related are the rows a request page shows beside its ticket: the size, the template
// (the approver's choice, else the requested one), the VM and its cluster's name.
type Related struct {
	Size     *ent.InstanceSize
	Template *ent.Template
	VM       *ent.VM
	Cluster  string
}

// Selected value names of the related rows.
const (
	relSize     = "related_size"
	relTemplate = "related_template"
	relVM       = "related_vm"
	relCluster  = "related_cluster"
)

// withRelated reads a ticket's related rows in the ticket's own statement: each is one
// primary-key lookup rendered as JSON (row_to_json names the fields by column, as Ent's
// JSON tags do), read back by RelatedOf.
var withRelated = predicate.ApprovalTicket(func(sel *entsql.Selector) {
	c := sel.C
	sel.AppendSelectExprAs(entsql.Raw("(SELECT row_to_json(z) FROM instance_sizes z WHERE z.id = "+c(approvalticket.FieldInstanceSizeID)+")"), relSize)
	sel.AppendSelectExprAs(entsql.Raw("(SELECT row_to_json(z) FROM templates z WHERE z.id = coalesce("+
		c(approvalticket.FieldSelectedTemplateID)+", "+c(approvalticket.FieldTemplateID)+"))"), relTemplate)
	sel.AppendSelectExprAs(entsql.Raw("(SELECT row_to_json(z) FROM vms z WHERE z.id = "+c(approvalticket.FieldVMID)+")"), relVM)
	sel.AppendSelectExprAs(entsql.Raw("(SELECT cl.name FROM vms z JOIN clusters cl ON cl.id = z.cluster_id WHERE z.id = "+
		c(approvalticket.FieldVMID)+")"), relCluster)
})

// RelatedOf returns the related rows read with t (see withRelated), and false when t was
// loaded without them.
func RelatedOf(t *ent.ApprovalTicket) (Related, bool) {
	var r Related
	if _, err := t.Value(relSize); err != nil {
		return r, false
	}
	r.Size = decodeRow[ent.InstanceSize](t, relSize)
	r.Template = decodeRow[ent.Template](t, relTemplate)
	r.VM = decodeRow[ent.VM](t, relVM)
	if v, err := t.Value(relCluster); err == nil {
		switch s := v.(type) {
		case string:
			r.Cluster = s
		case []byte:
			r.Cluster = string(s)
		}
	}
	return r, true
}

func decodeRow[T any](t *ent.ApprovalTicket, name string) *T {
	v, err := t.Value(name)
	if err != nil || v == nil {
		return nil
	}
	var raw []byte
	switch x := v.(type) {
	case []byte:
		raw = x
	case string:
		raw = []byte(x)
	default:
		return nil
	}
	out := new(T)
	if err := json.Unmarshal(raw, out); err != nil {
		return nil
	}
	return out
}

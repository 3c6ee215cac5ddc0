package domain

import "testing"

func TestConfirmTypedName(t *testing.T) {
	if e := ConfirmTypedName("VM", "prod-shop-web-01", "prod-shop-web-01"); e != nil {
		t.Fatalf("exact name refused: %v", e)
	}
	if e := ConfirmTypedName("VM", "prod-shop-web-01", ""); e == nil || e.Code != CodeConfirmationRequired || e.Field != "confirm_name" {
		t.Fatalf("empty: %+v", e)
	}
	e := ConfirmTypedName("System", "shop", "Shop")
	if e == nil || e.Code != CodeConfirmationMismatch || e.Params["expected"] != "shop" || e.Params["provided"] != "Shop" {
		t.Fatalf("mismatch: %+v", e)
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/custodia-health/custodia/internal/web"
)

// TestOpenAPICommandPrintsTheServedDocument: what CI lints is what the
// server serves, and --help names the command.
func TestOpenAPICommandPrintsTheServedDocument(t *testing.T) {
	var out, errs bytes.Buffer
	if code := run(context.Background(), []string{"openapi"}, &out, &errs); code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	want, err := web.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	if got := bytes.TrimSpace(out.Bytes()); !bytes.Equal(got, want) {
		t.Fatalf("printed %d bytes, the served document is %d", len(got), len(want))
	}
	var doc struct {
		OpenAPI string `json:"openapi"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil || doc.OpenAPI == "" {
		t.Fatalf("not an OpenAPI document: %v", err)
	}
	out.Reset()
	run(context.Background(), []string{"--help"}, &out, &errs)
	if !strings.Contains(out.String(), "openapi") {
		t.Errorf("--help does not list openapi:\n%s", out.String())
	}
	if code := run(context.Background(), []string{"openapi", "extra"}, &out, &errs); code == 0 {
		t.Error("openapi with an argument exited 0")
	}
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/custodia-health/custodia/internal/web"
)

func init() {
	commands["openapi"] = command{"print the merged OpenAPI document the server serves at /api/v1/openapi.json", openapiCmd}
}

// openapiCmd prints the document without opening a store, so CI can lint it
// with an outside tool.
func openapiCmd(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) != 0 {
		fmt.Fprintln(stderr, "usage: custodia openapi")
		return errors.New("openapi takes no arguments")
	}
	doc, err := web.OpenAPI()
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s\n", doc)
	return err
}

package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"parc/cmdb"
	"parc/cmdb/store/teststore"
	"parc/collector/api"
)

func TestOpenAPIListsEveryRoute(t *testing.T) {
	s := api.New(api.Config{Graph: cmdb.NewGraph(teststore.Open(t))})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	res, err := http.Get(srv.URL + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI == "" {
		t.Fatal("no openapi version")
	}
	for _, rt := range s.Routes() {
		p := rt.Path[len("/api/v1"):]
		op, ok := doc.Paths[p][map[string]string{"GET": "get", "POST": "post", "PUT": "put", "PATCH": "patch", "DELETE": "delete"}[rt.Method]]
		if !ok || op["operationId"] != rt.Name {
			t.Errorf("%s %s (%s) missing from the document", rt.Method, rt.Path, rt.Name)
		}
	}
	if _, ok := doc.Paths["/cis/{ref}"]["get"]["parameters"]; !ok {
		t.Error("path parameters not declared")
	}
}

package api

import (
	"net/http"
	"regexp"
	"sort"
	"strings"
)

var pathParam = regexp.MustCompile(`\{([a-zA-Z_]+)\}`)

// openAPI serves an OpenAPI 3 document generated from the route table, so
// it lists exactly the methods the server has, each with the permission
// name that the role table checks.
func (s *Server) openAPI(w http.ResponseWriter, _ *http.Request) error {
	paths := map[string]map[string]any{}
	for _, rt := range s.Routes() {
		p := strings.TrimPrefix(rt.Path, "/api/v1")
		op := map[string]any{
			"operationId": rt.Name,
			"tags":        []string{strings.SplitN(rt.Name, ".", 2)[0]},
			"responses": map[string]any{
				"200":     map[string]any{"description": "OK (JSON)"},
				"default": map[string]any{"description": `error: {"error": "..."}`},
			},
			"security": []map[string][]string{{"bearer": {}}},
		}
		var params []map[string]any
		for _, m := range pathParam.FindAllStringSubmatch(p, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]string{"type": "string"}})
		}
		if params != nil {
			op["parameters"] = params
		}
		if rt.Method == http.MethodPost || rt.Method == http.MethodPut || rt.Method == http.MethodPatch {
			op["requestBody"] = map[string]any{"content": map[string]any{"application/json": map[string]any{"schema": map[string]string{"type": "object"}}}}
		}
		if paths[p] == nil {
			paths[p] = map[string]any{}
		}
		paths[p][strings.ToLower(rt.Method)] = op
	}
	keys := make([]string, 0, len(paths))
	for k := range paths {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	writeJSON(w, http.StatusOK, map[string]any{
		"openapi": "3.0.3",
		"info":    map[string]string{"title": "Parc API", "version": "v1"},
		"servers": []map[string]string{{"url": "/api/v1"}},
		"paths":   paths,
		"components": map[string]any{"securitySchemes": map[string]any{
			"bearer": map[string]string{"type": "http", "scheme": "bearer"},
		}},
	})
	return nil
}

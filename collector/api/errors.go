package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"parc/cmdb"
	"parc/cmdb/store"
)

// ErrUnauthenticated and ErrPermission are returned by authorizers.
var (
	ErrUnauthenticated = errors.New("missing or invalid API token")
	ErrPermission      = errors.New("role not allowed")
	// ErrRateLimited is returned when a caller exceeds its request rate.
	ErrRateLimited = errors.New("too many requests")
	errBadRequest  = errors.New("bad request")
	errTooLarge    = errors.New("request body too large")
)

// statusTable maps errors to HTTP statuses, first match wins.
var statusTable = []struct {
	err    error
	status int
}{
	{ErrUnauthenticated, http.StatusUnauthorized},
	{ErrPermission, http.StatusForbidden},
	{errBadRequest, http.StatusBadRequest},
	{errTooLarge, http.StatusRequestEntityTooLarge},
	{ErrRateLimited, http.StatusTooManyRequests},
	{cmdb.ErrInvalid, http.StatusBadRequest},
	{cmdb.ErrNotFound, http.StatusNotFound},
	{cmdb.ErrAmbiguous, http.StatusConflict},
	{cmdb.ErrConflict, http.StatusConflict},
	{cmdb.ErrForbidden, http.StatusConflict},
	{store.ErrConflict, http.StatusConflict},
	{store.ErrTooLarge, http.StatusRequestEntityTooLarge},
	{context.DeadlineExceeded, http.StatusGatewayTimeout},
}

// StatusOf returns the HTTP status for err.
func StatusOf(err error) int {
	if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge
	}
	for _, row := range statusTable {
		if errors.Is(err, row.err) {
			return row.status
		}
	}
	return http.StatusInternalServerError
}

// writeError writes {"error": "..."} with the mapped status.
func writeError(w http.ResponseWriter, err error) {
	writeJSON(w, StatusOf(err), map[string]string{"error": err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

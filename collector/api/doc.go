// Package api serves the REST/JSON API under /api/v1 from the same domain
// services the CLI uses. Every route is declared once in routes(), with the
// permission name the authorizer checks; handlers only validate, delegate,
// and map domain errors to HTTP statuses through one table (errors.go).
package api

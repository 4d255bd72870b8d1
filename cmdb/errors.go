package cmdb

import "errors"

var (
	// ErrNotFound is returned when a CI, relationship or record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAmbiguous is returned when a name matches several CIs.
	ErrAmbiguous = errors.New("ambiguous reference")
	// ErrInvalid is returned for input that breaks a rule; the wrapping
	// message says which.
	ErrInvalid = errors.New("invalid input")
	// ErrConflict is returned when a write loses to a concurrent one or
	// breaks a uniqueness rule.
	ErrConflict = errors.New("conflict")
	// ErrCorrupt is returned when a stored value cannot be decoded.
	ErrCorrupt = errors.New("corrupt record")
	// ErrForbidden is returned when a rule forbids the operation in the
	// current state (for example retiring a CI with open incidents).
	ErrForbidden = errors.New("forbidden by rule")
)

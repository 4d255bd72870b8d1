package enroll

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"parc/cmdb"
	"parc/cmdb/store"
)

var (
	// ErrUnauthenticated is returned when a caller proves no identity: no
	// or an invalid enrollment token, no client certificate, a certificate
	// from another CA or an expired one, or plaintext.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrRevoked is returned for a revoked agent.
	ErrRevoked = errors.New("agent revoked")
	// ErrRateLimited is returned when an agent sends faster than allowed.
	ErrRateLimited = errors.New("rate limit exceeded")
	// ErrBusy is returned when the agent port has no stream to spare.
	ErrBusy = errors.New("too many concurrent streams")
)

// codeTable maps errors to gRPC codes, first match wins.
var codeTable = []struct {
	err  error
	code codes.Code
}{
	{ErrUnauthenticated, codes.Unauthenticated},
	{ErrRevoked, codes.PermissionDenied},
	{ErrRateLimited, codes.ResourceExhausted},
	{ErrBusy, codes.ResourceExhausted},
	{cmdb.ErrInvalid, codes.InvalidArgument},
	{cmdb.ErrNotFound, codes.NotFound},
	{store.ErrTooLarge, codes.ResourceExhausted},
	{store.ErrConflict, codes.Aborted},
	{context.DeadlineExceeded, codes.DeadlineExceeded},
	{context.Canceled, codes.Canceled},
	{store.ErrClosed, codes.Unavailable},
}

// StatusOf returns the gRPC status error for err.
func StatusOf(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	for _, row := range codeTable {
		if errors.Is(err, row.err) {
			return status.Error(row.code, err.Error())
		}
	}
	return status.Error(codes.Internal, err.Error())
}

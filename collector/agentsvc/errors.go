package agentsvc

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"parc/cmdb"
	"parc/cmdb/reconcile"
	"parc/cmdb/store"
)

// codeTable maps domain errors to gRPC codes, first match wins.
var codeTable = []struct {
	err  error
	code codes.Code
}{
	{reconcile.ErrBadReport, codes.InvalidArgument},
	{cmdb.ErrInvalid, codes.InvalidArgument},
	{store.ErrTooLarge, codes.ResourceExhausted},
	{cmdb.ErrNotFound, codes.NotFound},
	{store.ErrConflict, codes.Aborted},
	{cmdb.ErrConflict, codes.Aborted},
	{context.Canceled, codes.Canceled},
	{context.DeadlineExceeded, codes.DeadlineExceeded},
	{store.ErrClosed, codes.Unavailable},
}

// statusOf returns the gRPC status error for a domain error.
func statusOf(err error) error {
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

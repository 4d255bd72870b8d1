package api

import "context"

type principalCtxKey struct{}

func withPrincipal(ctx context.Context, who string) context.Context {
	return context.WithValue(ctx, principalCtxKey{}, who)
}

// Principal returns the name of the caller that the authorizer admitted.
func Principal(ctx context.Context) string {
	s, _ := ctx.Value(principalCtxKey{}).(string)
	return s
}

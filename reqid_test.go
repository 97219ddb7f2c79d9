package gateway

import (
	"context"
	"testing"
)

// TestCallerContext checks the context round trip the resolvers rely on.
func TestCallerContext(t *testing.T) {
	c := &Caller{Subject: "s", Consumer: "playground"}
	tests := []struct {
		name string
		ctx  context.Context
		want *Caller
	}{
		{name: "none", ctx: context.Background(), want: nil},
		{name: "set", ctx: WithCaller(context.Background(), c), want: c},
		{name: "inner wins", ctx: WithCaller(WithCaller(context.Background(), &Caller{}), c), want: c},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CallerFrom(tt.ctx); got != tt.want {
				t.Errorf("CallerFrom = %+v, want %+v", got, tt.want)
			}
		})
	}
}

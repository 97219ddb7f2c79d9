package errcode

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"pudong.gov.cn/gateway"
)

// InternalMessage is what a client reads instead of an unforeseen failure's own text,
// which may name tables, hosts or records.
const InternalMessage = "internal error; the request id in the X-Request-Id header helps the operators find it"

// At returns an error with code at the path of the field ctx resolves.
func At(ctx context.Context, code, message string) *gqlerror.Error {
	return &gqlerror.Error{Path: graphql.GetPath(ctx), Message: message, Extensions: map[string]any{"code": code}}
}

// Request returns an error with code that refuses a whole GraphQL request.
func Request(code, message string) *gqlerror.Error {
	return &gqlerror.Error{Message: message, Extensions: map[string]any{"code": code}}
}

// Extended is an error that brings its own extensions, code included, without being a
// GraphQL error: a department failure, for example, which must not depend on gqlgen.
type Extended interface {
	error
	Extensions() map[string]any
}

// Presenter returns gqlgen's error presenter: the one place where an error raised while
// answering a GraphQL request becomes what the client reads. An error keeps its code when
// the code is in the vocabulary; a Go error that carries extensions of its own (Extended,
// as federation.SourceError is) is presented with them; an argument gqlgen could not read
// is BAD_USER_INPUT; introspection while it is off is INTROSPECTION_DISABLED; gqlgen's own
// uncoded request errors are BAD_REQUEST; anything else is INTERNAL_SERVER_ERROR with a
// fixed message, and its text goes to log.
func Presenter(log *slog.Logger) graphql.ErrorPresenterFunc {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return func(ctx context.Context, err error) *gqlerror.Error {
		if err == nil {
			return nil
		}
		out := present(ctx, err)
		if code, _ := out.Extensions["code"].(string); code == Internal && !isInternal(err) {
			log.ErrorContext(ctx, "unforeseen error in a GraphQL answer", "request_id", gateway.RequestID(ctx),
				"path", out.Path.String(), "error", err.Error())
		}
		return out
	}
}

// present is Presenter without the logging.
func present(ctx context.Context, err error) *gqlerror.Error {
	var out gqlerror.Error
	if g, ok := errors.AsType[*gqlerror.Error](err); ok {
		out = *g // a copy: the error may be shared, its extensions are not ours to change
	} else {
		out = gqlerror.Error{Err: err, Message: err.Error(), Path: graphql.GetPath(ctx)}
	}
	if out.Path == nil {
		out.Path = graphql.GetPath(ctx)
	}
	code, _ := out.Extensions["code"].(string)
	if ext, ok := errors.AsType[Extended](err); ok && code == "" {
		out.Message = ext.Error()
		out.Extensions = ext.Extensions()
		code, _ = out.Extensions["code"].(string)
	}
	if code == "" {
		code = uncoded(ctx)
	}
	if _, known := vocabulary[code]; !known || code == Internal {
		out.Message = InternalMessage
		out.Extensions = nil
		code = Internal
	}
	out.Extensions = maps.Clone(out.Extensions)
	if out.Extensions == nil {
		out.Extensions = map[string]any{}
	}
	out.Extensions["code"] = code
	return &out
}

// uncoded names an error that carries no code, from where gqlgen raised it.
func uncoded(ctx context.Context) string {
	fc := graphql.GetFieldContext(ctx)
	switch {
	case fc == nil:
		// Before execution: gqlgen's own checks of the request (an APQ extension it
		// cannot read, a hash that does not match the query).
		return BadRequest
	case fc.Field.Field == nil:
		return ""
	case fc.Field.Name == "__schema" || fc.Field.Name == "__type":
		// gqlgen refuses these without a code when introspection is off.
		return IntrospectionDisabled
	case fc.Args == nil && fc.Field.Definition != nil && len(fc.Field.Definition.Arguments) > 0:
		// gqlgen sets Args once every argument is read; a field with arguments whose
		// Args are unset failed there (a Time that does not parse, for example).
		return BadUserInput
	}
	return ""
}

// isInternal reports whether err was deliberately presented as INTERNAL_SERVER_ERROR
// (a recovered panic, already logged where it was caught).
func isInternal(err error) bool {
	g, ok := errors.AsType[*gqlerror.Error](err)
	if !ok {
		return false
	}
	code, _ := g.Extensions["code"].(string)
	return code == Internal
}

// Body is the JSON of an answer refused as a whole: one error, in the shape of a GraphQL
// response, so every client parses one shape.
func Body(code, message string, ext map[string]any) []byte {
	e := maps.Clone(ext)
	if e == nil {
		e = map[string]any{}
	}
	e["code"] = code
	b, _ := json.Marshal(map[string]any{"errors": []any{map[string]any{"message": message, "extensions": e}}})
	return b
}

// WriteHTTP refuses an HTTP request as a whole: the status of code, and Body as
// application/json. Headers the answer needs (Retry-After, WWW-Authenticate, Allow) are
// set by the caller before.
func WriteHTTP(w http.ResponseWriter, code, message string, ext map[string]any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(Status(code))
	_, _ = w.Write(append(Body(code, message, ext), '\n'))
}

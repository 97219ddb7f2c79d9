// Hive Gateway's configuration for the benchmark peer: serve the supergraph that
// mesh-compose wrote (SUPERGRAPH, set by the harness; ./supergraph.graphql after
// setup.sh), with Hive Gateway's defaults otherwise. Only the logging is turned down to
// errors, as the Go gateway logs no line per request either.
import { defineConfig } from '@graphql-hive/gateway';

export const gatewayConfig = defineConfig({
  supergraph: process.env.SUPERGRAPH ?? './supergraph.graphql',
  logging: 'error',
});

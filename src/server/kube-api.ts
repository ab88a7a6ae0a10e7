/**
 * The slice of the Kubernetes API the fake cluster serves: legacy discovery, pods, services,
 * namespaces (core v1) and deployments (apps/v1), read-only, as JSON, with server-side Table
 * output for `kubectl get`, label and field selectors, and watches of pods.
 *
 * Discovery is deliberately the legacy kind (APIVersions, APIGroupList, APIResourceList). Since
 * 1.26 kubectl asks `/api` and `/apis` for aggregated discovery first
 * (`Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,...,application/json`);
 * client-go looks at the response's Content-Type, and a plain `application/json` makes it decode
 * the legacy documents and then fetch each group version's resource list. That fallback is
 * tested against kubectl 1.27 to 1.33 (test/interop/kubectl-api.test.ts).
 *
 * Error bodies are metav1.Status documents worded as the API server words them
 * (`pods "x" not found`), because kubectl prints the message and some clients branch on `reason`.
 *
 * What each resource is (names, group, storage, rendering, selectable labels and fields, table
 * columns) lives in one table, resources.ts; selector syntax in selectors.ts; object JSON in
 * render.ts. This file routes, negotiates (Accept, watch, includeObject) and writes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { decodePathSegment, parseRequestTarget } from './request-target.js';
import type { ClusterState, PodEvent } from './cluster-state.js';
import { humanDuration, type StoredObject } from './render.js';
import { RESOURCES, apiVersionOf, discoveryEntries, resourceIn, type Resource, type ResourceDescriptor } from './resources.js';
import { SelectorError, matchesLabelSelector, parseFieldSelector, parseLabelSelector } from './selectors.js';

// --- responses --------------------------------------------------------------------------------

/** A metav1.Status failure document. */
export interface StatusBody {
  readonly kind: 'Status';
  readonly apiVersion: 'v1';
  readonly metadata: Record<string, never>;
  readonly status: 'Failure';
  readonly message: string;
  readonly reason: string;
  readonly details?: { readonly name?: string; readonly group?: string; readonly kind?: string };
  readonly code: number;
}

/** A failure as the API server reports it. */
export function statusBody(code: number, reason: string, message: string, details?: StatusBody['details']): StatusBody {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details === undefined ? {} : { details }), code };
}

/** `pods "x" not found` (or `deployments.apps "x" not found`), 404 NotFound with details. */
export function notFoundStatus(resource: string, group: string, name: string): StatusBody {
  const qualified = group === '' ? resource : `${resource}.${group}`;
  return statusBody(404, 'NotFound', `${qualified} "${name}" not found`, { name, ...(group === '' ? {} : { group }), kind: resource });
}

const RESOURCE_NOT_FOUND = (): StatusBody => statusBody(404, 'NotFound', 'the server could not find the requested resource', {});

/** What the API answers to one request. */
export type ApiReply =
  | { readonly type: 'json'; readonly status: number; readonly body: unknown }
  | { readonly type: 'text'; readonly status: number; readonly body: string }
  | { readonly type: 'watch'; readonly watch: WatchPlan };

/** A watch to run: which objects, from where, rendered how. */
export interface WatchPlan {
  readonly resource: Resource;
  readonly namespace: string | undefined;
  readonly filter: (object: StoredObject) => boolean;
  /** Undefined: start with ADDED for every current object ("0" or no resourceVersion). */
  readonly sinceResourceVersion: number | undefined;
  readonly table: TableRequest | undefined;
  readonly timeoutSeconds: number | undefined;
}

// --- paths ------------------------------------------------------------------------------------

/** The pod a `/api/v1/namespaces/NS/pods/NAME/portforward` path addresses, or undefined for any other path. */
export function matchPortForwardPath(pathname: string): { namespace: string; name: string } | undefined {
  const match = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/portforward\/?$/.exec(pathname);
  if (match === null) return undefined;
  const namespace = decodePathSegment(match[1]!);
  const name = decodePathSegment(match[2]!);
  return namespace === undefined || name === undefined ? undefined : { namespace, name };
}

interface Route {
  readonly resource: Resource;
  readonly namespace: string | undefined;
  readonly name: string | undefined;
}

function routeResource(pathname: string): Route | undefined {
  const parts = pathname.split('/').filter((p) => p !== '');
  let rest: string[];
  let group: ResourceDescriptor['group'];
  if (parts[0] === 'api' && parts[1] === 'v1') {
    group = '';
    rest = parts.slice(2);
  } else if (parts[0] === 'apis' && parts[1] === 'apps' && parts[2] === 'v1') {
    group = 'apps';
    rest = parts.slice(3);
  } else {
    return undefined;
  }
  const decoded: string[] = [];
  for (const part of rest) {
    const text = decodePathSegment(part);
    if (text === undefined) return undefined;
    decoded.push(text);
  }
  // The resource the first segment names, if any. A cluster-scoped one (namespaces): /namespaces
  // and /namespaces/NAME.
  const first = resourceIn(group, decoded[0]);
  if (first !== undefined && !first.namespaced && decoded.length <= 2) return { resource: first.resource, namespace: undefined, name: decoded[1] };
  const inNamespace = resourceIn(group, decoded[2]);
  if (decoded[0] === 'namespaces' && decoded.length >= 3 && decoded.length <= 4 && inNamespace?.namespaced === true) {
    return { resource: inNamespace.resource, namespace: decoded[1], name: decoded[3] };
  }
  // A namespaced resource across all namespaces: list and watch only.
  if (decoded.length === 1 && first?.namespaced === true) return { resource: first.resource, namespace: undefined, name: undefined };
  return undefined;
}

// --- Accept -----------------------------------------------------------------------------------

/** A request for server-side printing (`application/json;as=Table;v=v1;g=meta.k8s.io`). */
export interface TableRequest {
  readonly version: 'v1' | 'v1beta1';
  /** `includeObject` query parameter: what each row carries. Default Metadata. */
  readonly includeObject: 'None' | 'Metadata' | 'Object';
}

/** The Table version the Accept header asks for first, if any. */
export function tableVersionFromAccept(accept: string | undefined): 'v1' | 'v1beta1' | undefined {
  for (const range of (accept ?? '').split(',')) {
    const [type, ...params] = range.split(';').map((s) => s.trim());
    if (type !== 'application/json') continue;
    const p = new Map(params.map((param) => param.split('=').map((s) => s.trim()) as [string, string]));
    if (p.get('as') === 'Table' && p.get('g') === 'meta.k8s.io' && (p.get('v') === 'v1' || p.get('v') === 'v1beta1')) return p.get('v') as 'v1' | 'v1beta1';
  }
  return undefined;
}

// --- the API ----------------------------------------------------------------------------------

/** The version the fake cluster claims to be. */
export const SERVER_VERSION = {
  major: '1',
  minor: '33',
  gitVersion: 'v1.33.0+kubemux',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2025-01-01T00:00:00Z',
  goVersion: 'go1.24.0',
  compiler: 'gc',
  platform: 'linux/amd64',
} as const;

/** Options of {@link KubeApi}. */
export interface KubeApiOptions {
  /** The clock for ages in tables (tests inject it). Default `() => new Date()`. */
  readonly now?: () => Date;
}

/** The API over a {@link ClusterState}: {@link KubeApi.reply} decides, {@link KubeApi.serve} writes. */
export class KubeApi {
  readonly #state: ClusterState;
  readonly #now: () => Date;

  constructor(state: ClusterState, options: KubeApiOptions = {}) {
    this.#state = state;
    this.#now = options.now ?? (() => new Date());
  }

  /**
   * The answer to one request, without I/O. `host` is the Host header (discovery reports it as
   * the server address). The portforward subresource is not handled here.
   */
  reply(method: string, url: string, accept: string | undefined, host = 'localhost'): ApiReply {
    const parsed = parseRequestTarget(url);
    if (parsed === undefined) return badTargetReply();
    const path = parsed.pathname.length > 1 ? parsed.pathname.replace(/\/$/, '') : parsed.pathname;
    if (method !== 'GET' && method !== 'HEAD') {
      return { type: 'json', status: 405, body: statusBody(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource', {}) };
    }
    switch (path) {
      case '/version':
        return json(SERVER_VERSION);
      case '/healthz':
      case '/livez':
      case '/readyz':
        return { type: 'text', status: 200, body: 'ok' };
      case '/api':
        return json({ kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: host }] });
      case '/apis':
        return json({ kind: 'APIGroupList', apiVersion: 'v1', groups: [APPS_GROUP] });
      case '/apis/apps':
        return json({ kind: 'APIGroup', apiVersion: 'v1', ...APPS_GROUP });
      case '/api/v1':
        return json({ kind: 'APIResourceList', groupVersion: 'v1', resources: discoveryEntries('') });
      case '/apis/apps/v1':
        return json({ kind: 'APIResourceList', apiVersion: 'v1', groupVersion: 'apps/v1', resources: discoveryEntries('apps') });
    }
    const route = routeResource(path);
    if (route === undefined) return { type: 'json', status: 404, body: RESOURCE_NOT_FOUND() };
    const query = parsed.searchParams;
    const tableVersion = tableVersionFromAccept(accept);
    const includeObject = query.get('includeObject');
    const table: TableRequest | undefined =
      tableVersion === undefined
        ? undefined
        : { version: tableVersion, includeObject: includeObject === 'None' || includeObject === 'Object' ? includeObject : 'Metadata' };

    const descriptor = RESOURCES[route.resource];
    if (route.name !== undefined) {
      const record = descriptor.get(this.#state, route.namespace, route.name);
      if (record === undefined) return { type: 'json', status: 404, body: notFoundStatus(route.resource, descriptor.group, route.name) };
      return json(table === undefined ? descriptor.render(record, this.#state) : this.#table(descriptor, [record], table, true));
    }

    let filter: (object: StoredObject) => boolean;
    try {
      filter = filterFor(descriptor, query.get('labelSelector') ?? '', query.get('fieldSelector') ?? '');
    } catch (err) {
      if (err instanceof SelectorError) return { type: 'json', status: 400, body: statusBody(400, 'BadRequest', err.message) };
      throw err;
    }
    const watch = query.get('watch');
    if (watch === 'true' || watch === '1') {
      const rv = query.get('resourceVersion') ?? '';
      if (rv !== '' && !/^\d+$/.test(rv)) return { type: 'json', status: 400, body: statusBody(400, 'BadRequest', `invalid resource version: ${rv}`) };
      const timeout = query.get('timeoutSeconds');
      return {
        type: 'watch',
        watch: {
          resource: route.resource,
          namespace: route.namespace,
          filter,
          sinceResourceVersion: rv === '' || rv === '0' ? undefined : Number(rv),
          table,
          timeoutSeconds: timeout !== null && /^\d+$/.test(timeout) && Number(timeout) > 0 ? Number(timeout) : undefined,
        },
      };
    }
    const items = descriptor.list(this.#state, route.namespace).filter(filter);
    if (table !== undefined) return json(this.#table(descriptor, items, table, true));
    return json({
      kind: `${descriptor.kind}List`,
      apiVersion: apiVersionOf(descriptor),
      metadata: { resourceVersion: this.#state.resourceVersion },
      // The API server leaves kind and apiVersion out of list items; clients fill them in.
      items: items.map((item) => {
        const { kind: _kind, apiVersion: _apiVersion, ...rest } = descriptor.render(item, this.#state);
        return rest;
      }),
    });
  }

  /** Answers `req` on `res` (a watch keeps `res` open until its timeout or the client leaves). */
  serve(req: IncomingMessage, res: ServerResponse): void {
    const reply = this.reply(req.method ?? 'GET', req.url ?? '/', req.headers.accept, req.headers.host);
    // Drain any request body so a keep-alive connection stays usable.
    req.resume();
    if (reply.type === 'watch') {
      this.#serveWatch(reply.watch, res);
      return;
    }
    writeReply(res, reply, req.method === 'HEAD');
  }

  #serveWatch(plan: WatchPlan, res: ServerResponse): void {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
    // Node holds headers back until the first body write; a quiet watch must still answer at once.
    res.flushHeaders();
    const descriptor = RESOURCES[plan.resource];
    let first = true;
    const send = (type: string, object: unknown): void => {
      res.write(`${JSON.stringify({ type, object })}\n`);
    };
    const render = (record: StoredObject): unknown => {
      if (plan.table === undefined) return descriptor.render(record, this.#state);
      const table = this.#table(descriptor, [record], plan.table, first);
      first = false;
      return table;
    };
    const inScope = (record: StoredObject & { namespace?: string }): boolean => (plan.namespace === undefined || record.namespace === plan.namespace) && plan.filter(record);
    if (plan.sinceResourceVersion === undefined) {
      for (const record of descriptor.list(this.#state, plan.namespace).filter(plan.filter)) send('ADDED', render(record));
    } else if (plan.resource === 'pods') {
      const missed = this.#state.podEventsSince(plan.sinceResourceVersion);
      if (missed === undefined) {
        send('ERROR', statusBody(410, 'Expired', `too old resource version: ${plan.sinceResourceVersion} (${this.#state.resourceVersion})`));
        res.end();
        return;
      }
      for (const event of missed) if (inScope(event.pod)) send(event.type, render(event.pod));
    }
    // Only pods change; watches of other resources stay open and quiet, as on an idle cluster.
    const unsubscribe =
      plan.resource === 'pods'
        ? this.#state.onPodEvent((event: PodEvent) => {
            if (inScope(event.pod)) send(event.type, render(event.pod));
          })
        : () => undefined;
    const timer =
      plan.timeoutSeconds === undefined
        ? undefined
        : setTimeout(() => {
            unsubscribe();
            res.end();
          }, plan.timeoutSeconds * 1000).unref();
    res.once('close', () => {
      unsubscribe();
      if (timer !== undefined) clearTimeout(timer);
    });
  }

  #table(descriptor: ResourceDescriptor, records: readonly StoredObject[], request: TableRequest, withColumns: boolean): Record<string, unknown> {
    const now = this.#now().getTime();
    const rows = records.map((record) => {
      const cells = descriptor.cells(record, this.#state, humanDuration(now - record.createdAt.getTime()));
      const rendered = descriptor.render(record, this.#state);
      const object =
        request.includeObject === 'None'
          ? undefined
          : request.includeObject === 'Object'
            ? rendered
            : { kind: 'PartialObjectMetadata', apiVersion: `meta.k8s.io/${request.version}`, metadata: rendered['metadata'] };
      return { cells, ...(object === undefined ? {} : { object }) };
    });
    return {
      kind: 'Table',
      apiVersion: `meta.k8s.io/${request.version}`,
      metadata: { resourceVersion: this.#state.resourceVersion },
      ...(withColumns ? { columnDefinitions: descriptor.columns } : {}),
      rows,
    };
  }
}

const APPS_GROUP = {
  name: 'apps',
  versions: [{ groupVersion: 'apps/v1', version: 'v1' }],
  preferredVersion: { groupVersion: 'apps/v1', version: 'v1' },
};

/**
 * The filter of a list or watch: the label selector against the resource's labels, the field
 * selector against its fields. Throws {@link SelectorError} for bad syntax or an unknown field.
 */
function filterFor(descriptor: ResourceDescriptor, labelSelector: string, fieldSelector: string): (object: StoredObject) => boolean {
  const labels = parseLabelSelector(labelSelector);
  const fields = parseFieldSelector(fieldSelector);
  const supported = descriptor.fields;
  for (const { field } of fields) if (!Object.hasOwn(supported, field)) throw new SelectorError(`field label not supported: ${field}`);
  return (object) => {
    if (!matchesLabelSelector(labels, descriptor.labels(object))) return false;
    return fields.every(({ field, op, value }) => (supported[field]!(object) === value) === (op === '='));
  };
}

/** The answer to a request target that is not a path (`//`, `*`, a URL the parser rejects). */
export function badTargetReply(): Extract<ApiReply, { type: 'json' }> {
  return { type: 'json', status: 400, body: statusBody(400, 'BadRequest', 'the request target is not a valid path') };
}

function json(body: unknown): ApiReply {
  return { type: 'json', status: 200, body };
}

/** Writes a JSON or text reply with the API server's headers. */
export function writeReply(res: ServerResponse, reply: Exclude<ApiReply, { type: 'watch' }>, headOnly = false): void {
  const text = reply.type === 'json' ? JSON.stringify(reply.body) : reply.body;
  res.writeHead(reply.status, {
    'Content-Type': reply.type === 'json' ? 'application/json' : 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-cache, private',
  });
  res.end(headOnly ? undefined : text);
}

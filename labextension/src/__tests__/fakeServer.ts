import { ServerConnection } from '@jupyterlab/services';

import { StarDockModel } from '../model';
import { IBuild, IPublishedEnvironment } from '../tokens';

/** One canned reply: an HTTP status and a JSON (or raw text) body. */
export interface IFakeReply {
  status: number;
  body?: unknown;
  /** Defaults to JSON for objects and HTML for strings. */
  contentType?: string;
}

/**
 * Server connection settings whose `fetch` answers from a list of canned
 * replies (the last one repeats) and records the path of every request.
 */
export function fakeServer(...replies: (IFakeReply | Error)[]): {
  settings: ServerConnection.ISettings;
  urls: string[];
} {
  const urls: string[] = [];
  const fetch = async (input: RequestInfo | URL): Promise<Response> => {
    // ServerConnection appends a cache-busting query; the path is what matters.
    urls.push(new URL(input instanceof Request ? input.url : String(input)).pathname);
    const reply = replies[Math.min(urls.length, replies.length) - 1];
    if (reply instanceof Error) {
      throw reply;
    }
    return respond(reply);
  };
  const settings = ServerConnection.makeSettings({
    baseUrl: 'http://localhost:8888/user/ada/',
    fetch
  });
  return { settings, urls };
}

function respond(reply: IFakeReply): Response {
  const text =
    reply.body === undefined
      ? null
      : typeof reply.body === 'string'
        ? reply.body
        : JSON.stringify(reply.body);
  return new Response(text, {
    status: reply.status,
    headers: {
      'Content-Type':
        reply.contentType ??
        (typeof reply.body === 'string' ? 'text/html' : 'application/json')
    }
  });
}

/** A request the routed fake server received. */
export interface IFakeRequest {
  method: string;
  /** The path below `/stardock/api/`, with its query, e.g. `builds/1/log?offset=0`. */
  path: string;
  body: unknown;
  headers: Headers;
}

type Route =
  | IFakeReply
  | IFakeReply[]
  | ((request: IFakeRequest) => IFakeReply | Promise<IFakeReply>);

/**
 * Server connection settings whose `fetch` answers by route: keys are
 * `"METHOD path"` with the path below `/stardock/api/` and without its query
 * (`"GET builds/b1/log"`). A list of replies is served in order, the last one
 * repeating; a function sees the request. Unknown routes answer 404.
 */
export function routedServer(routes: Record<string, Route>): {
  settings: ServerConnection.ISettings;
  requests: IFakeRequest[];
} {
  const requests: IFakeRequest[] = [];
  const served = new Map<string, number>();
  const fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = input instanceof Request ? input : new Request(String(input), init);
    const url = new URL(request.url);
    const path = url.pathname.replace(/^.*\/stardock\/api\//, '');
    const query = [...url.searchParams].filter(([key]) => !/^\d+$/.test(key) && key !== '_');
    const text = await request.text();
    const received: IFakeRequest = {
      method: request.method,
      path: query.length ? `${path}?${new URLSearchParams(query)}` : path,
      body: text ? JSON.parse(text) : null,
      headers: request.headers
    };
    requests.push(received);
    const key = `${request.method} ${path}`;
    const route = routes[key];
    let reply: IFakeReply;
    if (route === undefined) {
      reply = { status: 404, body: { message: `No fake route for ${key}.` } };
    } else if (typeof route === 'function') {
      reply = await route(received);
    } else if (Array.isArray(route)) {
      const count = served.get(key) ?? 0;
      served.set(key, count + 1);
      reply = route[Math.min(count, route.length - 1)];
    } else {
      reply = route;
    }
    return respond(reply);
  };
  const settings = ServerConnection.makeSettings({
    baseUrl: 'http://localhost:8888/user/ada/',
    fetch
  });
  return { settings, requests };
}

/** A `text/event-stream` body: one event per entry. */
export function eventStream(
  events: { event?: string; id?: number; data: string }[]
): IFakeReply {
  const text = events
    .map(e =>
      [e.event ? `event: ${e.event}` : '', e.id !== undefined ? `id: ${e.id}` : '', `data: ${e.data}`]
        .filter(Boolean)
        .join('\n')
    )
    .join('\n\n');
  return { status: 200, body: `${text}\n\n`, contentType: 'text/event-stream' };
}

/** A status reply as `jupyter_stardock.status.engine_status` writes it. */
export const STATUS_READY = {
  version: '0.1.0',
  engine: {
    address: 'unix:///var/run/docker.sock',
    version: '27.3.1',
    api_version: '1.47',
    storage_driver: 'overlay2',
    os: 'Debian GNU/Linux 12 (bookworm)',
    kernel_version: '6.1.0-26-amd64',
    architecture: 'x86_64',
    cpus: 2,
    memory_bytes: 25769803776
  },
  base_image: {
    name: 'stardock/base:latest',
    exists: true,
    id: 'sha256:0123456789ab',
    tags: ['stardock/base:latest'],
    created: '2026-11-20T10:00:00Z',
    size: 1234567890,
    from: 'debian:bookworm-slim',
    content_hash: 'abc123'
  }
};

export const ENGINE_DOWN_SENTENCE =
  'The Docker Engine cannot be reached at unix:///var/run/docker.sock. Start Docker, or set StarDockApp.engine_url, then refresh.';

export const HANDSHAKE_SENTENCE =
  'The StarDock server extension is not installed or not enabled. Run: pip install jupyter-stardock, then jupyter server extension enable jupyter_stardock, and restart JupyterLab.';

function app(
  id: string,
  title: string,
  category: string,
  order: number,
  requires: string[] = [],
  description = `${title} does things.`
) {
  return { id, title, description, category, requires, conflicts: [], order, apt: [id] };
}

/** A small catalog in the server's canonical order. */
export const CATALOG = [
  app('iraf', 'IRAF', 'Image reduction', 20),
  app('pyraf', 'PyRAF', 'Image reduction', 21, ['iraf', 'tables']),
  app('tables', 'Tables', 'Image reduction', 22),
  app(
    'swarp',
    'SWarp',
    'Mosaics and astrometry',
    31,
    [],
    'Resamples and co-adds FITS images.'
  ),
  app('scamp', 'SCAMP', 'Mosaics and astrometry', 32)
];

export const DATASETS = [
  {
    id: 'm51',
    title: 'Messier 51',
    description: 'Synthetic FITS images of M51.',
    files: 27,
    bytes: 7_300_000_000,
    exists: true,
    problem: null
  },
  {
    id: 'gone',
    title: 'Gone',
    description: '',
    files: 0,
    bytes: 0,
    exists: false,
    problem: 'The folder /srv/gone does not exist.'
  }
];

/** A model whose server answers by route (see `routedServer`); no polling, no check delay. */
export function routedModel(
  routes: Parameters<typeof routedServer>[0],
  options: Partial<StarDockModel.IOptions> = {}
): { model: StarDockModel; requests: IFakeRequest[] } {
  const server = routedServer(routes);
  const model = new StarDockModel({
    refreshInterval: 0,
    checkDelay: 0,
    serverSettings: server.settings,
    ...options
  });
  return { model, requests: server.requests };
}

/** The environment of `build()`'s recipe, as `POST builds` and a build's end name it. */
export const ENVIRONMENT: IPublishedEnvironment = {
  id: 'abcdef0123456789',
  content_hash: 'abcdef0123456789' + '0'.repeat(48),
  image_id: 'sha256:feed',
  tags: ['stardock/env:abcdef0123456789'],
  recipe: { apps: ['swarp'], commands: [], apt_packages: [], pip_packages: [] },
  apps: ['swarp'],
  size: 400_000_000,
  created: '2026-11-22T10:00:00Z',
  kernelspec: 'stardock-abcdef0123456789-m51'
};

/** A build of SWarp beside M51 as the server sends it: running unless `partial` says otherwise. */
export function build(partial: Partial<IBuild> = {}): IBuild {
  return {
    id: 'b1',
    recipe: { dataset: 'm51', apps: ['swarp'], commands: [], apt_packages: [], pip_packages: [] },
    content_hash: 'abcdef0123456789' + '0'.repeat(48),
    environment_id: 'abcdef0123456789',
    tag: 'stardock/env:abcdef0123456789',
    state: 'running',
    progress: 0,
    step: 0,
    steps: 4,
    created: 1000,
    started: 1001,
    finished: null,
    image_id: null,
    error: null,
    environment: null,
    ...partial
  };
}

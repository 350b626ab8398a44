import { ServerConnection } from '@jupyterlab/services';

/** One canned reply: an HTTP status and a JSON (or raw text) body. */
export interface IFakeReply {
  status: number;
  body?: unknown;
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
          typeof reply.body === 'string' ? 'text/html' : 'application/json'
      }
    });
  };
  const settings = ServerConnection.makeSettings({
    baseUrl: 'http://localhost:8888/user/ada/',
    fetch
  });
  return { settings, urls };
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

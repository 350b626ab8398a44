import {
  EventStreamParser,
  IServerEvent,
  requestAPI,
  requestEvents,
  ResponseError
} from '../request';
import packageJson from '../../package.json';
import { FRONTEND_VERSION } from '../tokens';
import {
  ENGINE_DOWN_SENTENCE,
  eventStream,
  fakeServer,
  routedServer,
  STATUS_READY
} from './fakeServer';

async function failure(request: Promise<unknown>): Promise<ResponseError> {
  try {
    await request;
  } catch (error) {
    return error as ResponseError;
  }
  throw new Error('The request was expected to fail.');
}

describe('requestAPI', () => {
  it('joins the endpoint under <baseUrl>/stardock/api and parses JSON', async () => {
    const { settings, urls } = fakeServer({ status: 200, body: STATUS_READY });
    const reply = await requestAPI('status', {}, settings);

    expect(reply).toEqual(STATUS_READY);
    expect(urls).toEqual(['/user/ada/stardock/api/status']);
  });

  it("throws a ResponseError carrying the status and the server's message", async () => {
    const { settings } = fakeServer({
      status: 503,
      body: { message: ENGINE_DOWN_SENTENCE, traceback: 'Traceback ...' }
    });
    const error = await failure(requestAPI('status', {}, settings));

    expect(error).toBeInstanceOf(ResponseError);
    expect(error.status).toBe(503);
    expect(error.serverMessage).toBe(ENGINE_DOWN_SENTENCE);
    expect(error.message).toBe(ENGINE_DOWN_SENTENCE);
    expect(error.traceback).toBe('Traceback ...');
    expect(error.reply).toMatchObject({ message: ENGINE_DOWN_SENTENCE });
  });

  it('falls back to the HTTP status when the body is not JSON', async () => {
    const { settings } = fakeServer({ status: 404, body: '<html>404</html>' });
    const error = await failure(requestAPI('status', {}, settings));

    expect(error).toBeInstanceOf(ResponseError);
    expect(error.status).toBe(404);
    expect(error.serverMessage).toBeNull();
    expect(error.reply).toBeNull();
    expect(error.message).toMatch(/^404/);
  });

  it('returns null for an empty successful reply', async () => {
    const { settings } = fakeServer({ status: 204 });
    await expect(requestAPI('builds/1', { method: 'DELETE' }, settings)).resolves.toBeNull();
  });
});

describe('EventStreamParser', () => {
  it('splits events fed in arbitrary chunks', () => {
    const parser = new EventStreamParser();
    expect(parser.push('id: 0\ndata: Step 1/2 : FROM')).toEqual([]);
    expect(parser.push(' base\n\n: keep-alive\n\nid: 1\r\ndata: a\r\ndata: b\r\n\r\nevent: end\ndata: {}\n')).toEqual([
      { event: 'message', id: '0', data: 'Step 1/2 : FROM base' },
      { event: 'message', id: '1', data: 'a\nb' }
    ]);
    expect(parser.push('\n')).toEqual([{ event: 'end', id: null, data: '{}' }]);
  });

  it('keeps a data line that has colons and no leading space', () => {
    expect(new EventStreamParser().push('data:a: b\n\n')).toEqual([
      { event: 'message', id: null, data: 'a: b' }
    ]);
  });
});

describe('requestEvents', () => {
  it('streams the events of an endpoint with Accept: text/event-stream', async () => {
    const { settings, requests } = routedServer({
      'GET builds/b1/log': eventStream([
        { id: 0, data: 'one' },
        { event: 'end', data: '{"state": "succeeded"}' }
      ])
    });
    const events: IServerEvent[] = [];
    await requestEvents('builds/b1/log?offset=0', e => events.push(e), {}, settings);
    expect(events).toEqual([
      { event: 'message', id: '0', data: 'one' },
      { event: 'end', id: null, data: '{"state": "succeeded"}' }
    ]);
    expect(requests[0].path).toBe('builds/b1/log?offset=0');
    expect(requests[0].headers.get('Accept')).toBe('text/event-stream');
  });

  it('throws a ResponseError before streaming anything', async () => {
    const { settings } = routedServer({});
    const error = await failure(requestEvents('builds/zz/log', () => undefined, {}, settings));
    expect(error).toBeInstanceOf(ResponseError);
    expect(error.status).toBe(404);
  });
});

describe('FRONTEND_VERSION', () => {
  it('is the version in package.json', () => {
    expect(FRONTEND_VERSION).toBe(packageJson.version);
  });
});

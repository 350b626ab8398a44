import { StarDockModel } from '../model';
import { parseStatusReply } from '../status';
import {
  ENGINE_DOWN_SENTENCE,
  fakeServer,
  HANDSHAKE_SENTENCE,
  STATUS_READY
} from './fakeServer';

function modelFor(...replies: Parameters<typeof fakeServer>) {
  const server = fakeServer(...replies);
  const model = new StarDockModel({
    refreshInterval: 0,
    serverSettings: server.settings
  });
  return { model, urls: server.urls };
}

describe('StarDockModel', () => {
  it('starts in the loading phase with nothing to show', () => {
    const { model } = modelFor({ status: 200, body: STATUS_READY });
    expect(model.state).toMatchObject({
      phase: 'loading',
      status: null,
      message: null,
      refreshing: false,
      updated: null
    });
    model.dispose();
  });

  it('parses a status reply', async () => {
    const { model, urls } = modelFor({ status: 200, body: STATUS_READY });
    await model.refresh();

    expect(urls).toEqual(['/user/ada/stardock/api/status']);
    expect(model.state.phase).toBe('ready');
    expect(model.state.message).toBeNull();
    expect(model.state.refreshing).toBe(false);
    expect(model.state.updated).toBeInstanceOf(Date);
    expect(model.state.status).toEqual(STATUS_READY);
    expect(model.state.status?.engine?.storage_driver).toBe('overlay2');
    expect(model.state.status?.base_image?.name).toBe('stardock/base:latest');
    model.dispose();
  });

  it('accepts a status reply without engine or base image', async () => {
    const { model } = modelFor({
      status: 200,
      body: { version: '0.1.0', engine: null, base_image: null }
    });
    await model.refresh();

    expect(model.state.phase).toBe('ready');
    expect(model.state.status).toEqual({
      version: '0.1.0',
      engine: null,
      base_image: null
    });
    model.dispose();
  });

  it("maps a 503 to a banner with the server's sentence", async () => {
    const { model } = modelFor({
      status: 503,
      body: {
        message: ENGINE_DOWN_SENTENCE,
        reason: 'EngineUnavailable',
        version: '0.1.0',
        engine: null
      }
    });
    await model.refresh();

    expect(model.state.phase).toBe('engine-down');
    expect(model.state.message).toBe(ENGINE_DOWN_SENTENCE);
    // The server extension still says which version it is.
    expect(model.state.status).toEqual({
      version: '0.1.0',
      engine: null,
      base_image: null
    });
    model.dispose();
  });

  it('writes its own sentence for a 503 without a JSON message', async () => {
    const { model } = modelFor({ status: 503, body: '<html>Bad gateway</html>' });
    await model.refresh();

    expect(model.state.phase).toBe('engine-down');
    expect(model.state.message).toMatch(/container engine cannot be reached/);
    expect(model.state.status).toBeNull();
    model.dispose();
  });

  it('maps a 404 to the version handshake sentence', async () => {
    const { model } = modelFor({
      status: 404,
      body: '<html><body>404 : Not Found</body></html>'
    });
    await model.refresh();

    expect(model.state.phase).toBe('server-missing');
    expect(model.state.message).toBe(HANDSHAKE_SENTENCE);
    model.dispose();
  });

  it("shows the server's sentence for any other HTTP error", async () => {
    const { model } = modelFor({
      status: 403,
      body: { message: 'You may not use StarDock on this server.' }
    });
    await model.refresh();

    expect(model.state.phase).toBe('error');
    expect(model.state.message).toBe('You may not use StarDock on this server.');
    model.dispose();
  });

  it('says so when the Jupyter server cannot be reached', async () => {
    const { model } = modelFor(new TypeError('Failed to fetch'));
    await model.refresh();

    expect(model.state.phase).toBe('error');
    expect(model.state.message).toMatch(/Jupyter server cannot be reached/);
    model.dispose();
  });

  it('turns a reply it does not understand into a sentence', async () => {
    const { model } = modelFor({ status: 200, body: { engine: 'up' } });
    await model.refresh();

    expect(model.state.phase).toBe('error');
    expect(model.state.message).toMatch(/does not understand/);
    model.dispose();
  });

  it('recovers when the engine comes back', async () => {
    const { model } = modelFor(
      { status: 503, body: { message: ENGINE_DOWN_SENTENCE } },
      { status: 200, body: STATUS_READY }
    );
    await model.refresh();
    expect(model.state.phase).toBe('engine-down');

    await model.refresh();
    expect(model.state.phase).toBe('ready');
    expect(model.state.message).toBeNull();
    model.dispose();
  });

  it('signals refreshing, then the result', async () => {
    const { model } = modelFor({ status: 200, body: STATUS_READY });
    const seen: [StarDockModel.Phase, boolean][] = [];
    model.stateChanged.connect((_, state) => {
      seen.push([state.phase, state.refreshing]);
    });
    await model.refresh();

    expect(seen).toEqual([
      ['loading', true],
      ['ready', false]
    ]);
    model.dispose();
  });

  it('shares one request between overlapping refreshes', async () => {
    const { model, urls } = modelFor({ status: 200, body: STATUS_READY });
    await Promise.all([model.refresh(), model.refresh(), model.refresh()]);

    expect(urls).toHaveLength(1);
    model.dispose();
  });

  describe('polling', () => {
    beforeEach(() => jest.useFakeTimers());
    afterEach(() => jest.useRealTimers());

    it('asks again every refreshInterval seconds, and stops at 0', async () => {
      const { model, urls } = modelFor({ status: 200, body: STATUS_READY });
      model.refreshInterval = 5;

      const statusCalls = () => urls.filter(url => url.endsWith('/status')).length;

      await jest.advanceTimersByTimeAsync(4_000);
      expect(urls).toHaveLength(0);
      await jest.advanceTimersByTimeAsync(1_500);
      expect(statusCalls()).toBe(1);
      // Each tick also reads the environments, kernels, archives and builds.
      expect(urls).toHaveLength(5);
      await jest.advanceTimersByTimeAsync(5_000);
      expect(statusCalls()).toBe(2);

      model.refreshInterval = 0;
      await jest.advanceTimersByTimeAsync(30_000);
      expect(statusCalls()).toBe(2);
      model.dispose();
    });

    it('stops polling when disposed', async () => {
      const { model, urls } = modelFor({ status: 200, body: STATUS_READY });
      model.refreshInterval = 5;
      model.dispose();

      await jest.advanceTimersByTimeAsync(30_000);
      expect(urls).toHaveLength(0);
      expect(model.isDisposed).toBe(true);
    });
  });
});

describe('parseStatusReply', () => {
  it.each([
    ['not an object', 'ok'],
    ['no version', { engine: null, base_image: null }],
    ['engine without version', { version: '0.1.0', engine: {}, base_image: null }],
    ['base image without name', { version: '0.1.0', engine: null, base_image: {} }],
    // Panel and server ship in one wheel: a reply without a field is not StarDock's.
    ['no engine field', { version: '0.1.0', base_image: null }],
    ['no base image field', { version: '0.1.0', engine: null }],
    ['base image without "exists"', { version: '0.1.0', engine: null, base_image: { name: 'b' } }]
  ])('rejects a reply with %s', (_, reply) => {
    expect(parseStatusReply(reply)).toBeNull();
  });
});

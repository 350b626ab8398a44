import { requestAPI, ResponseError } from '../request';
import { ENGINE_DOWN_SENTENCE, fakeServer, STATUS_READY } from './fakeServer';

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

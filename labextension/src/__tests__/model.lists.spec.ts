import { ResponseError } from '../request';
import { ENVIRONMENT, routedModel as modelFor } from './fakeServer';

describe('StarDockModel: environments, kernels, archives', () => {
  const kernel = {
    id: 'k1',
    name: 'stardock-abcdef0123456789-m51',
    environment: 'abcdef0123456789',
    dataset: 'm51',
    outputs: 'stardock-outputs/k1',
    started: 1000,
    state: 'running',
    container: 'c0ffee'
  };
  const archive = { id: 'k1', size: 2048, manifest: { environment: 'abcdef0123456789' } };

  it('reads the lists and says what could not be read', async () => {
    const { model } = modelFor({
      'GET environments': { status: 503, body: { message: 'The engine is down.' } },
      'GET kernels': { status: 200, body: { kernels: [kernel] } },
      'GET archives': { status: 200, body: { archives: [archive] } }
    });
    await model.refreshLists();
    expect(model.state.environments).toBeNull();
    expect(model.state.kernels).toEqual([kernel]);
    expect(model.state.archives).toEqual([archive]);
    expect(model.state.listsError).toBe('The engine is down.');
    model.dispose();
  });

  it('stops a kernel and waits for its archive', async () => {
    const stopped: string[] = [];
    const { model } = modelFor(
      {
        'GET environments': { status: 200, body: { environments: [ENVIRONMENT] } },
        'GET kernels': [
          { status: 200, body: { kernels: [] } }
        ],
        'GET archives': [
          { status: 200, body: { archives: [] } },
          { status: 200, body: { archives: [archive] } }
        ]
      },
      { shutdownKernel: async id => void stopped.push(id) }
    );
    const seen: string[][] = [];
    model.stateChanged.connect((_, s) => seen.push([...s.stopping]));
    await model.stopKernel('k1');
    expect(stopped).toEqual(['k1']);
    expect(seen.some(s => s.includes('k1'))).toBe(true);
    expect(model.state.stopping).toEqual([]);
    expect(model.state.archives).toEqual([archive]);
    model.dispose();
  }, 10_000);

  it('tells whether an environment exists', async () => {
    const { model } = modelFor({
      'GET environments/abcdef0123456789': { status: 200, body: ENVIRONMENT },
      'GET environments/0000000000000000': { status: 503, body: { message: 'down' } }
    });
    expect(await model.environmentExists('abcdef0123456789')).toBe(true);
    expect(await model.environmentExists('ffffffffffffffff')).toBe(false);
    expect(await model.environmentExists('0000000000000000')).toBeNull();
    model.dispose();
  });

  it("rejects a delete with the server's sentence", async () => {
    const sentence = 'A running kernel uses this environment; stop the kernel first, then delete it.';
    const { model } = modelFor({
      'DELETE environments/abcdef0123456789': { status: 409, body: { message: sentence } }
    });
    const error = await model.deleteEnvironment('abcdef0123456789').catch(e => e);
    expect(error).toBeInstanceOf(ResponseError);
    expect(error.message).toBe(sentence);
    model.dispose();
  });

  it('links archives below the server base URL', () => {
    const { model } = modelFor({});
    expect(model.archiveUrl('k-1')).toBe(
      'http://localhost:8888/user/ada/stardock/api/archives/k-1'
    );
    model.dispose();
  });
});
